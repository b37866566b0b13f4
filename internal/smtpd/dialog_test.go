package smtpd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"facteur/internal/maillog"
)

// logBuffer collects mail log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
	h     *maillog.Handler // flushed before the lines are read
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, strings.Split(strings.TrimSuffix(string(p), "\n"), "\n")...)
	return len(p), nil
}

func (b *logBuffer) all() []string {
	if b.h != nil {
		b.h.Flush()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// testServer is a server on a loopback listener with fakes.
type testServer struct {
	srv    *Server
	addr   string
	policy *fakePolicy
	sink   *fakeSink
	log    *logBuffer
	done   chan error
}

func baseConfig() Config {
	return Config{
		Hostname:           "mx.example.org",
		Banner:             "mx.example.org ESMTP facteur",
		MaxMessageSize:     10240000,
		MaxRecipients:      1000,
		Timeout:            5 * time.Second,
		ConnLimitPerClient: 0,
		HardErrorLimit:     20,
	}
}

func startServer(t *testing.T, cfg Config, policy *fakePolicy, sink *fakeSink) *testServer {
	t.Helper()
	return startServerPort(t, cfg, policy, sink, PortSMTP)
}

func startServerPort(t *testing.T, cfg Config, policy *fakePolicy, sink *fakeSink, port Port) *testServer {
	t.Helper()
	ts := &testServer{policy: policy, sink: sink, log: &logBuffer{}, done: make(chan error, 1)}
	ts.log.h = maillog.NewHandler(ts.log, "mx", slog.LevelInfo)
	cfg.Log = maillog.New(slog.New(ts.log.h))
	ts.srv = NewServer(cfg, policy, sink)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	go func() { ts.done <- ts.srv.ServePort(ln, port) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop shuts the server down and fails the test on a recovered panic
// that the test did not expect.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	if ts.srv.closing.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if n := ts.srv.panics.Load(); n != 0 {
		t.Errorf("%d session panics", n)
	}
}

func (ts *testServer) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// match reports whether s matches pattern, where "*" matches any text.
func match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p) && len(s) >= len(p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return s == ""
}

// TestDialogs runs every script under testdata/dialogs. A script holds:
//
//	# comment
//	set: name=value   server or fake setting, before the first line sent
//	C: text           a line sent with CRLF (consecutive lines go in one write)
//	C-raw: "quoted"   octets sent as they are (Go string syntax)
//	S: pattern        the next reply line, "*" matching any text
//	S: <closed>       the server has closed the connection
//	D: "quoted"       after the dialog: the text of the last queued message
//	L: pattern        after the dialog: some mail log line matches
func TestDialogs(t *testing.T) {
	files, err := filepath.Glob("testdata/dialogs/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dialogs: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runDialog(t, f)
		})
	}
}

type dialogLine struct {
	no         int
	kind, text string
}

func readDialog(t *testing.T, file string) []dialogLine {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var lines []dialogLine
	for i, l := range strings.Split(string(data), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		kind, text, ok := strings.Cut(l, ": ")
		if !ok {
			kind, text = strings.TrimSuffix(l, ":"), ""
		}
		lines = append(lines, dialogLine{i + 1, kind, text})
	}
	return lines
}

func applySetting(t *testing.T, cfg *Config, p *fakePolicy, s *fakeSink, setting string) {
	t.Helper()
	name, value, _ := strings.Cut(setting, "=")
	n, _ := strconv.Atoi(value)
	switch name {
	case "maxsize":
		cfg.MaxMessageSize = int64(n)
	case "maxrcpt":
		cfg.MaxRecipients = n
	case "hardlimit":
		cfg.HardErrorLimit = n
	case "timeout":
		d, err := time.ParseDuration(value)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Timeout = d
	case "forbidbarenewline":
		cfg.ForbidBareNewline = true
	case "disablevrfy":
		cfg.DisableVRFY = true
	case "trusted":
		p.trusted = true
	case "nospace":
		s.noSpace = true
	case "auth": // AUTH on port 25, in plain text
		cfg.Auth, cfg.AuthOnSMTP, cfg.Senders = &fakeAuth{}, true, fakeSenders{}
	case "authonly":
		cfg.TLSAuthOnly = true
	case "authlimit":
		cfg.AuthFailureLimit = n
	case "tlslevel":
		cfg.TLSLevel = value
	case "port": // read by runDialog
	default:
		t.Fatalf("unknown setting %q", setting)
	}
}

func runDialog(t *testing.T, file string) {
	lines := readDialog(t, file)
	cfg, policy, sink := baseConfig(), &fakePolicy{}, &fakeSink{}
	for _, l := range lines {
		if l.kind == "set" {
			applySetting(t, &cfg, policy, sink, l.text)
		}
	}
	port := PortSMTP
	for _, l := range lines {
		if l.kind == "set" && l.text == "port=submission" {
			port = PortSubmission
		}
		if l.kind == "set" && l.text == "port=smtp-noauth" {
			cfg.AuthOnSMTP = false
		}
	}
	ts := startServerPort(t, cfg, policy, sink, port)
	conn, r := ts.dial(t)
	var pending []byte
	for _, l := range lines {
		switch l.kind {
		case "C":
			pending = append(pending, l.text+"\r\n"...)
		case "C-raw":
			s, err := strconv.Unquote(l.text)
			if err != nil {
				t.Fatalf("line %d: %v", l.no, err)
			}
			pending = append(pending, s...)
		case "S":
			if len(pending) > 0 {
				conn.Write(pending) // errors show as a missing reply
				pending = nil
			}
			expectReply(t, r, l)
		}
	}
	conn.Close()
	ts.stop(t)
	checkAfter(t, ts, lines)
}

func expectReply(t *testing.T, r *bufio.Reader, l dialogLine) {
	t.Helper()
	got, err := r.ReadString('\n')
	if l.text == "<closed>" {
		if err != io.EOF || got != "" {
			t.Fatalf("line %d: want close, got %q, %v", l.no, got, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("line %d: want %q, got %q, %v", l.no, l.text, got, err)
	}
	if !strings.HasSuffix(got, "\r\n") {
		t.Fatalf("line %d: reply %q not ended by CRLF", l.no, got)
	}
	if got = strings.TrimSuffix(got, "\r\n"); !match(l.text, got) {
		t.Fatalf("line %d: want %q, got %q", l.no, l.text, got)
	}
}

func checkAfter(t *testing.T, ts *testServer, lines []dialogLine) {
	t.Helper()
	logs := ts.log.all()
	for _, l := range lines {
		switch l.kind {
		case "D":
			want, err := strconv.Unquote(l.text)
			if err != nil {
				t.Fatalf("line %d: %v", l.no, err)
			}
			if m := ts.sink.last(); m == nil {
				t.Errorf("line %d: no message queued, want %q", l.no, want)
			} else if got := m.data.String(); got != want {
				t.Errorf("line %d: queued %q, want %q", l.no, got, want)
			}
		case "L":
			if !anyMatch(logs, "*"+l.text+"*") {
				t.Errorf("line %d: no log line matches %q; log:\n%s", l.no, l.text, strings.Join(logs, "\n"))
			}
		}
	}
	if ts.sink.open != 0 {
		t.Errorf("%d messages neither committed nor aborted", ts.sink.open)
	}
}

func anyMatch(lines []string, pattern string) bool {
	for _, s := range lines {
		if match(pattern, s) {
			return true
		}
	}
	return false
}
