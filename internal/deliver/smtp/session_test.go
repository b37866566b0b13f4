package smtp

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/queue"
)

func TestDeliverDotStuffedExactBytes(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{})
	c := newClient(t, testOptions(mxFake(s), port(s)))
	body := testBody + ".\r\n." // a lone dot line, and a last line without CRLF
	got := deliver(t, c, testMessage(body), rcpts("bob@example.org"))
	relay := "mx1.example.org[127.0.0.1]:" + strconv.Itoa(port(s))
	wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "250 2.0.0 Ok: queued as SINK1", relay)
	if !got[0].Remote || got[0].Relayed {
		t.Errorf("result %+v: want Remote, and not Relayed to a next hop with DSN", got[0])
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
			d := newDotWriter(w)
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
			for i, r := range got {
				if !r.Remote {
					t.Errorf("result %d: Remote false", i)
				}
			}
			if msgs := s.messages(); len(msgs) != 1 || len(msgs[0].rcpts) != 1 {
				t.Errorf("sink got %+v, want one message for ok@", msgs)
			}
		})
	}
}
