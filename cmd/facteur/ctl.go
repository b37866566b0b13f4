package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"

	"facteur/internal/config"
	"facteur/internal/ctl"
	"facteur/internal/queue"
)

// exTempFail is sysexits.h's EX_TEMPFAIL: try again later (the server is
// not running).
const exTempFail = 75

// allIDs names every message, as postsuper's ALL.
const allIDs = "ALL"

// queueControl is what the control socket asks of the running queue
// (Postfix's postqueue -f and postsuper -d, -h, -H, -r). Each returns how
// many messages it touched; an unknown id is an error wrapping
// queue.ErrNotFound.
type queueControl interface {
	Flush(ctx context.Context, id string) (int, error) // "": every deferred message, retried now
	Delete(ctx context.Context, id string) (int, error)
	Hold(ctx context.Context, id string) (int, error)
	Release(ctx context.Context, id string) (int, error)
	Requeue(ctx context.Context, id string) (int, error) // retried now, attempts and next try reset
}

// controlPath is where the server listens for the command line.
func controlPath(cfg *config.Config) string { return dataPath(cfg, "control") }

// queueOp is a queue subcommand that the running server carries out: the
// CLI's `facteur queue VERB`, the socket's "queue.VERB".
type queueOp struct {
	verb       string
	done       string // "3 messages <done>"
	optionalID bool   // no ID: every message (flush)
	run        func(q queueControl, ctx context.Context, id string) (int, error)
}

func queueOps() []queueOp {
	return []queueOp{
		{"flush", "flushed", true, queueControl.Flush},
		{"delete", "deleted", false, queueControl.Delete},
		{"hold", "held", false, queueControl.Hold},
		{"release", "released", false, queueControl.Release},
		{"requeue", "requeued", false, queueControl.Requeue},
	}
}

func findQueueOp(verb string) (queueOp, bool) {
	for _, op := range queueOps() {
		if op.verb == verb {
			return op, true
		}
	}
	return queueOp{}, false
}

// target returns the queue ID that args name, allIDs for ALL, or "" for
// flush without one. An empty ID is refused: the queue would take it for
// every message.
func (op queueOp) target(args []string) (string, error) {
	switch {
	case len(args) == 0 && op.optionalID:
		return "", nil
	case len(args) != 1 || args[0] == "":
		if op.optionalID {
			return "", fmt.Errorf("usage: queue %s [ID]", op.verb)
		}
		return "", fmt.Errorf("usage: queue %s ID|ALL", op.verb)
	case strings.EqualFold(args[0], allIDs) && op.optionalID:
		return "", nil
	case strings.EqualFold(args[0], allIDs):
		return allIDs, nil
	}
	return args[0], nil
}

// serveControl makes the control socket at path and registers the queue
// operations on it; the caller runs its Serve. ctx bounds the set-up only.
func serveControl(ctx context.Context, path string, q queueControl, debug *slog.Logger) (*ctl.Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if debug == nil {
		debug = slog.New(slog.DiscardHandler)
	}
	srv, err := ctl.Listen(path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	srv.Log = debug
	for _, op := range queueOps() {
		srv.Handle("queue."+op.verb, op.handler(q, debug))
	}
	return srv, nil
}

func (op queueOp) handler(q queueControl, debug *slog.Logger) ctl.Handler {
	return func(ctx context.Context, args []string, out io.Writer) error {
		id, err := op.target(args)
		if err != nil {
			return err
		}
		n, err := op.run(q, ctx, id)
		switch {
		case errors.Is(err, queue.ErrNotFound):
			return fmt.Errorf("queue ID %s: %w", id, ctl.ErrNotFound)
		case err != nil:
			return fmt.Errorf("queue %s: %w", op.verb, err)
		}
		debug.Info("queue control", "op", op.verb, "id", id, "messages", n)
		switch {
		case id == "" || id == allIDs:
			_, err = fmt.Fprintf(out, "facteur: %s %s\n", plural(n, "message"), op.done)
		case n == 0:
			_, err = fmt.Fprintf(out, "facteur: queue ID %s unchanged\n", id)
		default:
			_, err = fmt.Fprintf(out, "facteur: queue ID %s %s\n", id, op.done)
		}
		return err
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// runQueueControl asks the running server to carry out op.
func runQueueControl(env *cmdEnv, cfg *config.Config, op queueOp, args []string) error {
	if _, err := op.target(args); err != nil {
		return usageErr(queueUsage)
	}
	path := controlPath(cfg)
	err := ctl.Call(context.Background(), path, "queue."+op.verb, args, env.stdout)
	switch {
	case errors.Is(err, ctl.ErrNotRunning) && errors.Is(err, fs.ErrNotExist):
		return &exitError{code: exTempFail, err: fmt.Errorf("facteur is not running (no control socket at %s)", path)}
	case errors.Is(err, ctl.ErrNotRunning):
		return &exitError{code: exTempFail, err: fmt.Errorf("facteur is not running (nothing answers on %s)", path)}
	case errors.Is(err, ctl.ErrNotFound):
		return &exitError{code: exDataErr, err: err}
	}
	return err
}
