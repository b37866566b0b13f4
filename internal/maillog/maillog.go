// Package maillog is facteur's mail log: one line per message event, keyed
// by queue ID, in the layout operators know from Postfix:
//
//	Nov 27 23:14:58 mail facteur/smtpd[812]: 0F3A9C2B1D: client=localhost[127.0.0.1]
//	Nov 27 23:14:58 mail facteur/cleanup[812]: 0F3A9C2B1D: message-id=<...>
//	Nov 27 23:14:58 mail facteur/qmgr[812]: 0F3A9C2B1D: from=<a@b>, size=512, nrcpt=1 (queue active)
//	Nov 27 23:14:58 mail facteur/local[812]: 0F3A9C2B1D: to=<c@d>, relay=local, delay=0.01, dsn=2.0.0, status=sent (delivered to mailbox)
//
// Lines go through log/slog, so that a program may route them anywhere;
// NewHandler formats them as above.
package maillog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Logger writes mail log lines for one service ("smtpd", "qmgr", "local", ...).
type Logger struct {
	l       *slog.Logger
	service string
}

// New returns a mail logger writing through l. A nil l discards.
func New(l *slog.Logger) *Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Logger{l: l}
}

// Service returns a logger whose lines name service.
func (m *Logger) Service(service string) *Logger {
	return &Logger{l: m.l, service: service}
}

// Event logs one event of the message with queue ID id: "ID: text".
// An empty id logs the text alone (connect and disconnect lines).
func (m *Logger) Event(id, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if id != "" {
		msg = id + ": " + msg
	}
	m.l.LogAttrs(context.Background(), slog.LevelInfo, msg, slog.String("service", m.service))
}

// Warn logs a warning line, "warning: text", as Postfix does.
func (m *Logger) Warn(format string, args ...any) {
	m.l.LogAttrs(context.Background(), slog.LevelWarn, "warning: "+fmt.Sprintf(format, args...), slog.String("service", m.service))
}

// Handler formats records as syslog-style mail log lines. Lines are
// buffered and written at most flushDelay after they were logged (or when
// the buffer fills), so that a busy server makes one write for many
// lines; Flush writes what is pending.
type Handler struct {
	out      *output
	hostname string
	pid      int
	attrs    []slog.Attr
	level    slog.Level
}

// flushDelay bounds how long a logged line waits in the buffer.
const flushDelay = 100 * time.Millisecond

// output is the buffered writer that a handler and its WithAttrs copies
// share.
type output struct {
	mu      sync.Mutex
	w       *bufio.Writer
	pending bool // a flush is scheduled
	err     error
}

// NewHandler returns a handler that writes lines for hostname to w; records
// below level are dropped.
func NewHandler(w io.Writer, hostname string, level slog.Level) *Handler {
	return &Handler{out: &output{w: bufio.NewWriterSize(w, 32<<10)}, hostname: hostname, pid: os.Getpid(), level: level}
}

// Flush writes the buffered lines.
func (h *Handler) Flush() error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	return h.out.flush()
}

func (o *output) flush() error {
	o.pending = false
	if err := o.w.Flush(); err != nil && o.err == nil {
		o.err = err
	}
	return o.err
}

func (o *output) write(line []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := o.w.Write(line); err != nil {
		return err
	}
	if !o.pending {
		o.pending = true
		time.AfterFunc(flushDelay, func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.pending {
				o.flush()
			}
		})
	}
	return nil
}

func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	service := "facteur"
	var extra []byte
	add := func(a slog.Attr) bool {
		if a.Key == "service" {
			if s := a.Value.String(); s != "" {
				service = "facteur/" + s
			}
			return true
		}
		extra = fmt.Appendf(extra, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	line := fmt.Appendf(nil, "%s %s %s[%d]: %s%s\n", t.Format(time.StampMicro), h.hostname, service, h.pid, r.Message, extra)
	return h.out.write(line)
}

func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &h2
}

func (h *Handler) WithGroup(string) slog.Handler { return h }
