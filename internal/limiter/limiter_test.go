package limiter

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(3, time.Minute, func() time.Time { return now })
	a := netip.MustParseAddr("192.0.2.1")
	for i := 1; i <= 3; i++ {
		if n := l.Add(a); n != i {
			t.Fatalf("add %d = %d", i, n)
		}
	}
	if !l.Blocked(a) || l.Blocked(netip.MustParseAddr("192.0.2.2")) {
		t.Fatal("blocked: want the failing address only")
	}
	if n := l.Add(a); n != 3 {
		t.Errorf("add past the limit = %d, want 3 (bounded)", n)
	}
	now = now.Add(61 * time.Second)
	if l.Blocked(a) {
		t.Fatal("still blocked after the window")
	}
	if l.Len() != 0 {
		t.Errorf("%d addresses kept after the window", l.Len())
	}
}

func TestZeroAddress(t *testing.T) {
	l := New(1, time.Minute, time.Now)
	if n := l.Add(netip.Addr{}); n != 0 || l.Blocked(netip.Addr{}) {
		t.Errorf("zero address counted: add %d, blocked %v", n, l.Blocked(netip.Addr{}))
	}
}

// TestSweep: addresses whose failures left the window are forgotten once
// the map grows, so memory stays bounded by recent failures.
func TestSweep(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(5, time.Minute, func() time.Time { return now })
	for i := range minSweep - 1 {
		l.Add(netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", i/256, i%256)))
	}
	now = now.Add(2 * time.Minute)
	l.Add(netip.MustParseAddr("192.0.2.9"))
	if l.Len() != 1 {
		t.Errorf("%d addresses after the sweep, want 1", l.Len())
	}
}

func TestSleepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { Sleep(ctx, time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Sleep ignored a cancelled context")
	}
}
