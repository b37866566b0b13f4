package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

	"facteur/internal/envelope"
	"facteur/internal/inspect"
	"facteur/internal/queue"
	"facteur/internal/store"
)

const inspectUsage = "usage: facteur inspect [--json] [--raw] [--extract DIR] FILE|-|queue:ID|mailbox:ACCOUNT/MAILBOX/UID"

// runInspect analyses one message: its envelope against its header, its
// trace path, its header fields and its MIME structure, and the rules it
// breaks.
func runInspect(env *cmdEnv, args []string) error {
	flags, pos, err := parseArgs(args, flagSpec{"json": false, "raw": false, "extract": true})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr(inspectUsage)
	}
	r, e, err := openInspected(env, flags, pos[0])
	if errors.Is(err, queue.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return &exitError{code: exNoInput, err: err}
	}
	if err != nil {
		return err
	}
	defer r.Close()
	opt := inspect.Options{Envelope: e}
	if dir := flags["extract"]; dir != "" {
		x, err := inspect.NewDirExtractor(dir)
		if err != nil {
			return err
		}
		defer x.Close()
		opt.Extract = x
	}
	rep, err := inspect.Analyze(r, opt)
	if err != nil {
		return err
	}
	if flags["json"] != "" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // addresses keep their <>
		return enc.Encode(rep)
	}
	return rep.WriteText(env.stdout, inspect.TextOptions{Raw: flags["raw"] != ""})
}

// openInspected opens the message that src names, with its envelope when
// it is queued.
func openInspected(env *cmdEnv, flags map[string]string, src string) (io.ReadCloser, *envelope.Envelope, error) {
	ctx := context.Background()
	switch {
	case src == "-":
		return io.NopCloser(env.stdin), nil, nil
	case strings.HasPrefix(src, "queue:"):
		cfg, err := loadConfig(env, flags)
		if err != nil {
			return nil, nil, err
		}
		q, err := openQueueReader(cfg)
		if err != nil {
			return nil, nil, err
		}
		defer q.Close()
		e, err := q.Get(ctx, strings.TrimPrefix(src, "queue:"))
		if err != nil {
			return nil, nil, err
		}
		r, err := q.OpenContent(e.ID)
		return r, e, err
	case strings.HasPrefix(src, "mailbox:"):
		account, mailbox, uid, err := parseMailboxSource(strings.TrimPrefix(src, "mailbox:"))
		if err != nil {
			return nil, nil, err
		}
		st, err := loadStore(env, flags)
		if err != nil {
			return nil, nil, err
		}
		defer st.Close()
		r, err := st.OpenMessage(ctx, account, mailbox, uid)
		return r, nil, err
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, nil, &exitError{code: exNoInput, err: err}
	}
	return f, nil, nil
}

// parseMailboxSource splits ACCOUNT/MAILBOX/UID: the account ends at the
// first "/", the UID starts after the last, and the mailbox between may
// hold "/" itself ("Archives/2024").
func parseMailboxSource(s string) (account, mailbox string, uid uint32, err error) {
	account, rest, ok1 := strings.Cut(s, "/")
	i := strings.LastIndexByte(rest, '/')
	if !ok1 || i < 0 || account == "" || i == 0 {
		return "", "", 0, usageErr("mailbox:%s: want mailbox:ACCOUNT/MAILBOX/UID", s)
	}
	n, perr := strconv.ParseUint(rest[i+1:], 10, 32)
	if perr != nil || n == 0 {
		return "", "", 0, usageErr("mailbox:%s: bad UID %q", s, rest[i+1:])
	}
	return account, rest[:i], uint32(n), nil
}

// exNoInput is sysexits.h's EX_NOINPUT: an input file that is not there
// or not readable.
const exNoInput = 66
