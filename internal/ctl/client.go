package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// Call asks the server at path to run op with args, and copies the
// output the handler streams to out (nil discards it). The handler's
// error comes back as Call's error, with its text; when nothing listens
// on path, the error wraps ErrNotRunning.
func Call(ctx context.Context, path, op string, args []string, out io.Writer) error {
	return call(ctx, path, request{V: Version, Op: op, Args: args}, nil, out)
}

// CallStream is Call for an operation registered with HandleStream: in is
// sent as the request's payload while the output is read. An error
// reading in aborts the request (the server's handler sees an unexpected
// end of input, never a shorter payload) and is returned. CallStream
// returns only after its last Read of in has returned.
func CallStream(ctx context.Context, path, op string, args []string, in io.Reader, out io.Writer) error {
	return call(ctx, path, request{V: Version, Op: op, Args: args, Input: true}, in, out)
}

func call(ctx context.Context, path string, req request, in io.Reader, out io.Writer) error {
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding the request: %w", err)
	}
	if len(line)+1 > maxLine {
		return fmt.Errorf("request too long (%d bytes, at most %d)", len(line)+1, maxLine)
	}
	line = append(line, '\n')
	if out == nil {
		out = io.Discard
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w: %w", ErrNotRunning, err)
		}
		return fmt.Errorf("connecting to the control socket: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	defer stop()

	// The request is written while the reply is read: a handler may
	// answer (or fail) before it has read all of a payload.
	wrote := make(chan error, 1)
	go func() {
		err := writeRequest(conn, line, in)
		var se *sourceError
		if errors.As(err, &se) {
			conn.Close() // abort: no end mark
		}
		wrote <- err
	}()
	rerr := readReply(conn, out)
	conn.Close()
	werr := <-wrote

	var se *sourceError
	var re *remoteError
	switch {
	case rerr == nil:
		return nil
	case errors.As(werr, &se):
		return se
	case errors.As(rerr, &re):
		return rerr
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", req.Op, context.Cause(ctx))
	}
	return rerr
}

func writeRequest(w io.Writer, line []byte, in io.Reader) error {
	if _, err := w.Write(line); err != nil {
		return err
	}
	if in == nil {
		return nil
	}
	return writePayload(w, in)
}
