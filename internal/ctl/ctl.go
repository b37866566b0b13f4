// Package ctl owns the local control socket between the facteur command
// line and the running daemon: a small request/response protocol over a
// Unix stream socket (DATA_DIRECTORY/control) that only the owner of the
// daemon, or root, may use.
//
// The wire format, version 1, is:
//
//	request  = header-line [payload]
//	header   = a JSON object on one line of at most 64 KiB, ending in LF:
//	           {"v":1,"op":"queue.flush","args":["ID"],"input":true}
//	payload  = only when "input" is true: chunks of a 4-byte big-endian
//	           length (1 to 64 KiB) and that many bytes, then a length of 0
//	reply    = frame*  final-frame
//	frame    = kind (1 byte), 4-byte big-endian length (at most 64 KiB), data
//	           kind 'o': output for the user, streamed as the handler writes it
//	final    = kind 'k' (success, no data) or 'e' (failure, data is the JSON
//	           object {"error":"text","code":"notfound"}, code optional)
//
// The payload carries its own end mark, so that a client that dies half way
// through a message is never taken for one that sent it all.
package ctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the protocol version this package speaks.
const Version = 1

// Limits of the wire format.
const (
	maxLine    = 64 << 10 // a header line, LF included
	maxFrame   = 64 << 10 // the data of one frame or payload chunk
	maxErrText = 4 << 10  // the text of an error reply
)

// Frame kinds of a reply.
const (
	kindOutput = 'o'
	kindOK     = 'k'
	kindError  = 'e'
)

// codeNotFound marks an error reply for an error that wraps ErrNotFound.
const codeNotFound = "notfound"

// ErrNotRunning is returned by Call when nothing listens on the socket: the
// file does not exist, or nobody answers on it.
var ErrNotRunning = errors.New("not running")

// ErrNotFound is for handlers to wrap when the object a request names does
// not exist; Call's error then wraps it too.
var ErrNotFound = errors.New("not found")

// ErrRunning is returned by Listen when a live server answers on the path.
var ErrRunning = errors.New("another server answers on the control socket")

// request is the header line.
type request struct {
	V     int      `json:"v"`
	Op    string   `json:"op"`
	Args  []string `json:"args,omitempty"`
	Input bool     `json:"input,omitempty"`
}

// parseRequest decodes a header line, its LF included or not.
func parseRequest(line []byte) (request, error) {
	var req request
	line = bytes.TrimSuffix(line, []byte("\n"))
	if err := json.Unmarshal(line, &req); err != nil {
		return request{}, fmt.Errorf("malformed request: %w", err)
	}
	if req.V != Version {
		return request{}, fmt.Errorf("unsupported protocol version %d (this server speaks %d)", req.V, Version)
	}
	if req.Op == "" {
		return request{}, errors.New("malformed request: no op")
	}
	return req, nil
}

// errorReply is the data of an error frame.
type errorReply struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

func encodeError(err error) []byte {
	msg := err.Error()
	if len(msg) > maxErrText {
		msg = strings.ToValidUTF8(msg[:maxErrText], "") + "…"
	}
	r := errorReply{Error: msg}
	if errors.Is(err, ErrNotFound) {
		r.Code = codeNotFound
	}
	data, _ := json.Marshal(r) // a struct of strings always encodes
	return data
}

// remoteError is a handler's error as the client sees it.
type remoteError struct {
	msg  string
	code string
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Is(target error) bool {
	return target == ErrNotFound && e.code == codeNotFound
}

func decodeError(data []byte) error {
	var r errorReply
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("malformed error reply %q", data)
	}
	if r.Error == "" {
		r.Error = "unspecified error"
	}
	return &remoteError{msg: r.Error, code: r.Code}
}
