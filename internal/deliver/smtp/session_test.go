package smtp

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/queue"
	wire "facteur/internal/smtp"
)

func TestDeliverDotStuffedExactBytes(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{})
	c := newClient(t, testOptions(mxFake(s), port(s)))
	body := testBody + ".\r\n." // a lone dot line, and a last line without CRLF
	got := deliver(t, c, testMessage(body), rcpts("bob@example.org"))
	relay := "mx1.example.org[127.0.0.1]:" + strconv.Itoa(port(s))
	wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "250 2.0.0 Ok: queued as SINK1", relay)
	if got[0].Reply != "250 2.0.0 Ok: queued as SINK1" || got[0].Relayed {
		t.Errorf("result %+v: want the next hop's Reply, and not Relayed to a next hop with DSN", got[0])
	}
	msgs := s.messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(msgs))
	}
	want := strings.ReplaceAll(testBody, "\r\n.", "\r\n..") + "..\r\n..\r\n"
	if string(msgs[0].data) != want {
		t.Errorf("data on the wire:\n%q\nwant\n%q", msgs[0].data, want)
	}
	if msgs[0].mail != "FROM:<alice@example.com> SIZE="+strconv.Itoa(len(body)) {
		t.Errorf("MAIL %q", msgs[0].mail)
	}
}

func TestDotWriter(t *testing.T) {
	tests := []struct {
		name string
		in   []string // successive writes
		want string
	}{
		{"empty", nil, ".\r\n"},
		{"plain", []string{"a\r\nb\r\n"}, "a\r\nb\r\n.\r\n"},
		{"leading dot", []string{".a\r\n"}, "..a\r\n.\r\n"},
		{"dot line", []string{"a\r\n.\r\nb\r\n"}, "a\r\n..\r\nb\r\n.\r\n"},
		{"no final CRLF", []string{"a"}, "a\r\n.\r\n"},
		{"final CR only", []string{"a\r"}, "a\r\n.\r\n"},
		{"CRLF split across writes", []string{"a\r", "\n.b\r\n"}, "a\r\n..b\r\n.\r\n"},
		{"dot at a write boundary", []string{"a\r\n", ".", "b\r\n"}, "a\r\n..b\r\n.\r\n"},
		{"bare LF", []string{"a\n.b\n"}, "a\r\n..b\r\n.\r\n"},
		{"dot not at line start", []string{"a.b\r\n"}, "a.b\r\n.\r\n"},
		{"bare CR kept", []string{"a\rb\r\n"}, "a\rb\r\n.\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			w := bufio.NewWriter(&b)
			d := wire.NewDotWriter(w)
			for _, p := range tt.in {
				if n, err := d.Write([]byte(p)); n != len(p) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", p, n, err)
				}
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPipelinedInOneGroup(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{strictPipelining: true})
	c := newClient(t, testOptions(mxFake(s), port(s)))
	got := deliver(t, c, testMessage(testBody), rcpts("a@example.org", "b@example.org", "c@example.org"))
	for i, r := range got {
		wantResult(t, i, r, queue.Delivered, "2.0.0", "queued as", "")
	}
	msgs := s.messages()
	if len(msgs) != 1 || len(msgs[0].rcpts) != 3 {
		t.Fatalf("sink got %+v, want one message to three recipients", msgs)
	}
}

func TestLockstepWithoutPipelining(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{ext: []string{"8BITMIME"}})
	c := newClient(t, testOptions(mxFake(s), port(s)))
	got := deliver(t, c, testMessage(testBody), rcpts("a@example.org", "b@example.org"))
	for i, r := range got {
		wantResult(t, i, r, queue.Delivered, "2.0.0", "queued as", "")
	}
	conns := s.connections()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	wantCmds := []string{"EHLO client.test", "MAIL FROM:<alice@example.com>", "RCPT TO:<a@example.org>",
		"RCPT TO:<b@example.org>", "DATA", "QUIT"}
	if diff := cmp.Diff(wantCmds, conns[0].cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if len(conns[0].pipelined) > 0 {
		t.Errorf("commands sent before the previous reply: %q", conns[0].pipelined)
	}
}

func TestMixedRecipientReplies(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(map[bool]string{true: "pipelined", false: "lockstep"}[pipelining], func(t *testing.T) {
			checkGoroutines(t)
			ext := []string{"ENHANCEDSTATUSCODES"}
			if pipelining {
				ext = append(ext, "PIPELINING")
			}
			s := newSink(t, sinkConfig{ext: ext, on: func(_ *sinkConn, line string) string {
				switch {
				case strings.Contains(line, "<busy@"):
					return "450 4.2.1 <busy@example.org>: mailbox busy"
				case strings.Contains(line, "<nobody@"):
					return "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown"
				case strings.Contains(line, "<old@"):
					return "551 user not local"
				}
				return ""
			}})
			c := newClient(t, testOptions(mxFake(s), port(s)))
			got := deliver(t, c, testMessage(testBody),
				rcpts("ok@example.org", "busy@example.org", "nobody@example.org", "old@example.org"))
			relay := "mx1.example.org[127.0.0.1]:" + strconv.Itoa(port(s))
			wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "250 2.0.0 Ok: queued as SINK1", relay)
			wantResult(t, 1, got[1], queue.Deferred, "4.2.1",
				"host mx1.example.org[127.0.0.1] said: 450 4.2.1 <busy@example.org>: mailbox busy (in reply to RCPT TO command)", relay)
			wantResult(t, 2, got[2], queue.Bounced, "5.1.1", "said: 550 5.1.1 <nobody@example.org>: Recipient address rejected", relay)
			wantResult(t, 3, got[3], queue.Bounced, "5.0.0", "said: 551 user not local (in reply to RCPT TO command)", relay)
			for i, want := range []string{"250 2.0.0 Ok", "450 4.2.1 <busy@example.org>: mailbox busy",
				"550 5.1.1 <nobody@example.org>: Recipient address rejected", "551 user not local"} {
				if !strings.HasPrefix(got[i].Reply, want) {
					t.Errorf("result %d: Reply %q, want the next hop's %q", i, got[i].Reply, want)
				}
			}
			if msgs := s.messages(); len(msgs) != 1 || len(msgs[0].rcpts) != 1 {
				t.Errorf("sink got %+v, want one message for ok@", msgs)
			}
		})
	}
}

func TestTransactionRefusals(t *testing.T) {
	tests := []struct {
		name   string
		at     string // command prefix, or "." for the end of data
		reply  string
		status queue.Status
		dsn    string
		text   string
	}{
		{"MAIL 5xx", "MAIL", "553 5.7.1 <alice@example.com>: Sender address rejected", queue.Bounced, "5.7.1",
			"said: 553 5.7.1 <alice@example.com>: Sender address rejected (in reply to MAIL FROM command)"},
		{"MAIL 4xx", "MAIL", "451 4.3.0 try again", queue.Deferred, "4.3.0", "(in reply to MAIL FROM command)"},
		{"DATA 5xx", "DATA", "554 5.5.1 no thanks", queue.Bounced, "5.5.1", "(in reply to DATA command)"},
		{"end of data 4xx", ".", "452 4.3.1 insufficient system storage", queue.Deferred, "4.3.1",
			"said: 452 4.3.1 insufficient system storage (in reply to end of DATA command)"},
		{"end of data 5xx", ".", "552 5.3.4 message too big", queue.Bounced, "5.3.4", "(in reply to end of DATA command)"},
		{"no enhanced code", ".", "554 rejected as spam", queue.Bounced, "5.0.0", "said: 554 rejected as spam"},
	}
	for _, tt := range tests {
		for _, pipelining := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/pipelining=%v", tt.name, pipelining), func(t *testing.T) {
				checkGoroutines(t)
				ext := []string{"ENHANCEDSTATUSCODES"}
				if pipelining {
					ext = append(ext, "PIPELINING")
				}
				s := newSink(t, sinkConfig{ext: ext, on: func(_ *sinkConn, line string) string {
					if strings.HasPrefix(line, tt.at) {
						return tt.reply
					}
					return ""
				}})
				c := newClient(t, testOptions(mxFake(s), port(s)))
				got := deliver(t, c, testMessage(testBody), rcpts("a@example.org", "b@example.org"))
				for i, r := range got {
					wantResult(t, i, r, tt.status, tt.dsn, tt.text, "mx1.example.org[127.0.0.1]:"+strconv.Itoa(port(s)))
				}
			})
		}
	}
}

func TestNextMXAfterLostConnection(t *testing.T) {
	checkGoroutines(t)
	// mx1 drops the connection at the second RCPT: nothing was sent, so
	// mx2 gets the whole message; the refusal mx1 gave stays.
	sinks := newSinks(t, sinkConfig{ext: []string{"8BITMIME"}, on: func(_ *sinkConn, line string) string {
		switch {
		case strings.Contains(line, "<gone@"):
			return "550 5.1.1 gone"
		case strings.Contains(line, "<b@"):
			return sinkClose
		}
		return ""
	}}, sinkConfig{})
	c := newClient(t, testOptions(mxFake(sinks...), port(sinks[0])))
	got := deliver(t, c, testMessage(testBody), rcpts("gone@example.org", "a@example.org", "b@example.org"))
	wantResult(t, 0, got[0], queue.Bounced, "5.1.1", "host mx1.example.org[127.0.0.1] said: 550 5.1.1 gone", "")
	for i := 1; i < 3; i++ {
		wantResult(t, i, got[i], queue.Delivered, "2.0.0", "queued as", "mx2.example.org[127.0.0.2]:"+strconv.Itoa(port(sinks[0])))
	}
	if n := len(sinks[0].messages()); n != 0 {
		t.Errorf("mx1 got %d messages", n)
	}
	if msgs := sinks[1].messages(); len(msgs) != 1 || len(msgs[0].rcpts) != 2 {
		t.Errorf("mx2 got %+v, want one message to a@ and b@", msgs)
	}
}

func TestSessionLimit(t *testing.T) {
	checkGoroutines(t)
	// Three MX hosts that each drop the connection at MAIL: after two
	// sessions, the third is not tried (smtp_mx_session_limit).
	drop := sinkConfig{on: func(_ *sinkConn, line string) string {
		if strings.HasPrefix(line, "MAIL") {
			return sinkClose
		}
		return ""
	}}
	sinks := newSinks(t, drop, drop, drop)
	c := newClient(t, testOptions(mxFake(sinks...), port(sinks[0])))
	got := deliver(t, c, testMessage(testBody), rcpts("a@example.org"))
	wantResult(t, 0, got[0], queue.Deferred, "4.4.2", "lost connection with mx2.example.org[127.0.0.2] while sending MAIL FROM", "")
	for i, want := range []int{1, 1, 0} {
		if n := len(sinks[i].connections()); n != want {
			t.Errorf("mx%d: %d connections, want %d", i+1, n, want)
		}
	}
}

func TestAddressForms(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{ext: []string{"PIPELINING", "8BITMIME"}}) // no SMTPUTF8
	f := mxFake(s)
	f.MX["xn--exmple-cua.org"] = f.MX["example.org"]
	c := newClient(t, testOptions(f, port(s)))
	got := deliver(t, c, testMessage(testBody), rcpts("a@[127.0.0.1]", "b@exämple.org", "jürgen@example.org", `"odd name"@example.org`))
	wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "127.0.0.1[127.0.0.1]:"+strconv.Itoa(port(s)))
	wantResult(t, 1, got[1], queue.Delivered, "2.0.0", "queued as", "")
	wantResult(t, 2, got[2], queue.Bounced, "5.6.7", "SMTPUTF8 is required for <jürgen@example.org>", "")
	wantResult(t, 3, got[3], queue.Delivered, "2.0.0", "queued as", "")
	var all []string
	for _, m := range s.messages() {
		all = append(all, m.rcpts...)
	}
	slices.Sort(all)
	want := []string{`TO:<"odd name"@example.org>`, "TO:<a@[127.0.0.1]>", "TO:<b@xn--exmple-cua.org>"}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("RCPT (-want +got):\n%s", diff)
	}
}

func TestThroughQueueMessage(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{})
	c := newClient(t, testOptions(mxFake(s), port(s)))
	path := filepath.Join(t.TempDir(), "content")
	if err := os.WriteFile(path, []byte(testBody), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testMessage(testBody).env
	rs := rcpts("bob@example.org")
	env.Recipients = rs
	got := c.Deliver(t.Context(), queue.NewMessage(env, path), rs)
	wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "")
	if msgs := s.messages(); len(msgs) != 1 || string(msgs[0].data) != strings.ReplaceAll(testBody, "\r\n.", "\r\n..") {
		t.Errorf("sink got %+v", msgs)
	}
	// A content file gone is this machine's fault: deferred, and nothing
	// is sent.
	os.Remove(path)
	got = c.Deliver(t.Context(), queue.NewMessage(env, path), rs)
	wantResult(t, 0, got[0], queue.Deferred, "4.3.0", "error reading queue file", "")
	if n := len(s.messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestSeveralNextHops(t *testing.T) {
	checkGoroutines(t)
	sinks := newSinks(t, sinkConfig{}, sinkConfig{})
	f := mxFake(sinks[0])
	f.MX["example.net"] = []*net.MX{{Host: "mx.example.net", Pref: 0}}
	f.IP["mx.example.net"] = []netip.Addr{sinks[1].addr.Addr()}
	c := newClient(t, testOptions(f, port(sinks[0])))
	got := deliver(t, c, testMessage(testBody), rcpts("a@example.org", "b@example.net", "c@example.org"))
	for i, r := range got {
		wantResult(t, i, r, queue.Delivered, "2.0.0", "queued as", "")
	}
	if got[1].Relay != "mx.example.net[127.0.0.2]:"+strconv.Itoa(port(sinks[0])) {
		t.Errorf("relay of b@example.net: %q", got[1].Relay)
	}
	for i, want := range []int{2, 1} {
		if msgs := sinks[i].messages(); len(msgs) != 1 || len(msgs[0].rcpts) != want {
			t.Errorf("sink %d got %+v, want one message to %d recipients", i, msgs, want)
		}
	}
}
