package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/ctl"
	"facteur/internal/queue"
)

// fakeQueue records the operations asked of it. ABC and DEF exist; BROKEN
// fails; ALL (and "" for flush) counts as every message.
type fakeQueue struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeQueue) op(name, id string, all int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name+" "+id)
	switch id {
	case "", allIDs:
		return all, nil
	case "ABC", "DEF":
		return 1, nil
	case "BROKEN":
		return 0, errors.New("disk on fire")
	}
	return 0, fmt.Errorf("%q: %w", id, queue.ErrNotFound)
}

func (f *fakeQueue) Flush(_ context.Context, id string) (int, error)   { return f.op("flush", id, 3) }
func (f *fakeQueue) Delete(_ context.Context, id string) (int, error)  { return f.op("delete", id, 2) }
func (f *fakeQueue) Hold(_ context.Context, id string) (int, error)    { return f.op("hold", id, 1) }
func (f *fakeQueue) Release(_ context.Context, id string) (int, error) { return f.op("release", id, 0) }
func (f *fakeQueue) Requeue(_ context.Context, id string) (int, error) { return f.op("requeue", id, 5) }

func (f *fakeQueue) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// shortConfig writes a main.cf whose data_directory has a short path: the
// control socket's path must fit in 107 bytes.
func shortConfig(t *testing.T) (cfgPath, dataDir string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dataDir = filepath.Join(dir, "data")
	cfgPath = filepath.Join(dir, "main.cf")
	if err := os.WriteFile(cfgPath, []byte("data_directory = "+dataDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dataDir
}

func TestQueueControl(t *testing.T) {
	cfgPath, dataDir := shortConfig(t)
	fq := &fakeQueue{}
	srv, err := serveControl(context.Background(), filepath.Join(dataDir, "control"), fq, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-served:
		case <-time.After(30 * time.Second):
			t.Error("the control server did not stop")
		}
	})

	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string // substring
		calls  []string
	}{
		{[]string{"flush"}, 0, "facteur: 3 messages flushed\n", "", []string{"flush "}},
		{[]string{"flush", "ABC"}, 0, "facteur: queue ID ABC flushed\n", "", []string{"flush ABC"}},
		{[]string{"flush", "ALL"}, 0, "facteur: 3 messages flushed\n", "", []string{"flush "}},
		{[]string{"delete", "ABC"}, 0, "facteur: queue ID ABC deleted\n", "", []string{"delete ABC"}},
		{[]string{"delete", "ALL"}, 0, "facteur: 2 messages deleted\n", "", []string{"delete ALL"}},
		{[]string{"hold", "all"}, 0, "facteur: 1 message held\n", "", []string{"hold ALL"}},
		{[]string{"hold", "DEF"}, 0, "facteur: queue ID DEF held\n", "", []string{"hold DEF"}},
		{[]string{"release", "ALL"}, 0, "facteur: 0 messages released\n", "", []string{"release ALL"}},
		{[]string{"release", "ABC"}, 0, "facteur: queue ID ABC released\n", "", []string{"release ABC"}},
		{[]string{"requeue", "ALL"}, 0, "facteur: 5 messages requeued\n", "", []string{"requeue ALL"}},
		{[]string{"requeue", "ABC"}, 0, "facteur: queue ID ABC requeued\n", "", []string{"requeue ABC"}},
		{[]string{"delete", "NOPE"}, exDataErr, "", "facteur queue: queue ID NOPE: not found\n", []string{"delete NOPE"}},
		{[]string{"hold", "BROKEN"}, 1, "", "queue hold: disk on fire", []string{"hold BROKEN"}},
		// Usage errors never reach the server.
		{[]string{"delete"}, exUsage, "", "usage: facteur queue", nil},
		{[]string{"delete", ""}, exUsage, "", "usage: facteur queue", nil},
		{[]string{"hold", "ABC", "DEF"}, exUsage, "", "usage: facteur queue", nil},
		{[]string{"flush", "ABC", "DEF"}, exUsage, "", "usage: facteur queue", nil},
	}
	for _, tt := range tests {
		args := append([]string{"queue"}, tt.args...)
		args = append(args, "-config", cfgPath)
		code, stdout, stderr := runCmd(t, nil, "", args...)
		if code != tt.code || stdout != tt.stdout || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
		}
		if diff := cmp.Diff(tt.calls, fq.take()); diff != "" {
			t.Errorf("%q: queue calls (-want +got):\n%s", tt.args, diff)
		}
	}

	// The server refuses an empty ID itself: the queue would take it for
	// every message.
	path := filepath.Join(dataDir, "control")
	for _, op := range []string{"queue.delete", "queue.hold", "queue.release", "queue.requeue"} {
		err := ctl.Call(context.Background(), path, op, []string{""}, nil)
		if err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%s with an empty ID: %v", op, err)
		}
		if err := ctl.Call(context.Background(), path, op, nil, nil); err == nil {
			t.Errorf("%s without an ID succeeded", op)
		}
	}
	if calls := fq.take(); len(calls) != 0 {
		t.Errorf("requests without an ID reached the queue: %q", calls)
	}

	// A second server on the same data_directory is refused.
	if s2, err := serveControl(context.Background(), path, fq, nil); !errors.Is(err, ctl.ErrRunning) {
		if s2 != nil {
			s2.Close()
		}
		t.Errorf("second serveControl: %v, want ErrRunning", err)
	}
}

func TestQueueControlNotRunning(t *testing.T) {
	cfgPath, dataDir := shortConfig(t)
	want := fmt.Sprintf("facteur queue: facteur is not running (no control socket at %s)\n", filepath.Join(dataDir, "control"))
	for _, verb := range []string{"flush", "delete", "hold", "release", "requeue"} {
		code, stdout, stderr := runCmd(t, nil, "", "queue", verb, "ABC", "-config", cfgPath)
		if code != exTempFail || stdout != "" || stderr != want {
			t.Errorf("queue %s, not running: exit %d, %q, %q; want %d, %q", verb, code, stdout, stderr, exTempFail, want)
		}
	}
}

func TestQueueHelp(t *testing.T) {
	_, out, _ := runCmd(t, nil, "", "help")
	if !strings.Contains(out, "queue list|show|flush|delete|hold|release|requeue") {
		t.Errorf("help does not name the queue subcommands:\n%s", out)
	}
}
