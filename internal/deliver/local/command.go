package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/queue"
)

// maxOutput bounds the command output kept for the result and the log.
const maxOutput = 4 << 10

// command pipes msg into "/bin/sh -c command" for r.Dest = "|command", as
// local(8) does, and turns the exit status into a result.
func (d *Deliverer) command(ctx context.Context, msg message, r *envelope.Recipient) queue.Result {
	command := strings.TrimSpace(strings.TrimPrefix(r.Dest, "|"))
	out, err := d.runCommand(ctx, msg, r, command)
	res := d.commandResult(ctx, command, out, err)
	if err != nil && res.Text == "cannot run command" {
		d.fault(msg.env.ID, "running command %q: %v", command, err)
	}
	if res.Status != queue.Delivered {
		d.debug.Warn("command delivery failed", "id", msg.env.ID, "command", command,
			"err", err, "output", out)
	}
	return res
}

// commandResult maps the outcome of a command to a result.
func (d *Deliverer) commandResult(ctx context.Context, command string, out []byte, err error) queue.Result {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return delivered("delivered to command: " + command)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return deferred("command time limit exceeded")
	case ctx.Err() != nil:
		return deferred("delivery interrupted")
	case errors.As(err, &exit):
		return exitResult(command, exit, out)
	default:
		return deferred("cannot run command")
	}
}

// exitResult reads sendmail's exit statuses (sysexits.h) as Postfix does:
// EX_TEMPFAIL and EX_OSERR defer, a signal defers, every other failure
// bounces with the command's first output line.
func exitResult(command string, exit *exec.ExitError, out []byte) queue.Result {
	ws, ok := exit.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return deferred(fmt.Sprintf("command died with signal %d", ws.Signal()))
	}
	code := exit.ExitCode()
	m := exitMeaning(code)
	text := fmt.Sprintf("command died with status %d (%s): %q", code, m.text, command)
	if line := firstLine(out); line != "" {
		text += ". Command output: " + line
	}
	if m.dsn[0] == '4' {
		return queue.Result{Status: queue.Deferred, DSN: m.dsn, Text: text, Relay: "local"}
	}
	return bounced(m.dsn, text)
}

// runCommand runs the command with the message on its standard input and
// returns its (bounded) output. At the time limit the whole process group
// is killed, so that a shell's children do not outlive it.
func (d *Deliverer) runCommand(ctx context.Context, msg message, r *envelope.Recipient, command string) ([]byte, error) {
	src, err := msg.Open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	tctx, cancel := context.WithTimeout(ctx, d.opt.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, "/bin/sh", "-c", command)
	cmd.Dir = "/"
	cmd.Env = d.commandEnv(msg.env, r)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: d.opt.RunAs}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // output pipes held open by orphans
	out := &boundedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	pr, pw := io.Pipe()
	cmd.Stdin = pr
	go func() {
		w := bufio.NewWriter(pw)
		w.Write(prefix(msg.env, r, "\n"))
		_, err := copyLines(w, src, false)
		pw.CloseWithError(err)
	}()
	err = cmd.Run()
	pr.CloseWithError(errors.New("command finished")) // unblocks the writer
	if err != nil && tctx.Err() != nil && ctx.Err() == nil {
		err = context.DeadlineExceeded
	}
	return out.bytes(), err
}

// commandEnv is the environment local(8) gives a command.
func (d *Deliverer) commandEnv(env *envelope.Envelope, r *envelope.Recipient) []string {
	localPart, domain := splitAddr(r.Addr)
	if domain == "" {
		domain = d.opt.Hostname
	}
	ext := ""
	if i := strings.IndexAny(localPart, d.opt.RecipientDelimiter); d.opt.RecipientDelimiter != "" && i >= 0 {
		ext = localPart[i+1:]
	}
	orig := r.Addr
	if r.ORCPT.Addr != "" {
		orig = r.ORCPT.Addr
	}
	return []string{
		"PATH=/usr/bin:/bin",
		"SHELL=/bin/sh",
		"SENDER=" + env.Sender,
		"RECIPIENT=" + r.Addr,
		"ORIGINAL_RECIPIENT=" + orig,
		"LOCAL=" + localPart,
		"DOMAIN=" + domain,
		"EXTENSION=" + ext,
	}
}

// splitAddr splits an address at its last "@".
func splitAddr(addr string) (local, domain string) {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i], addr[i+1:]
	}
	return addr, ""
}

// firstLine is the first non-empty line of out, without control characters.
func firstLine(out []byte) string {
	for _, l := range bytes.Split(out, []byte("\n")) {
		if s := strings.TrimSpace(headerSafe(string(l))); s != "" {
			return s
		}
	}
	return ""
}

// boundedBuffer keeps the first max bytes written to it and discards the
// rest, so that a chatty command cannot fill memory.
type boundedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *boundedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf...)
}
