package smtp

import (
	"context"
	"strings"
	"testing"
	"time"

	"facteur/internal/queue"
)

// short is the timeout under test when a server never answers.
const short = 300 * time.Millisecond

func TestFailureModes(t *testing.T) {
	big := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstu\r\n", 80000)
	hangAt := func(prefix string) func(*sinkConn, string) string {
		return func(_ *sinkConn, line string) string {
			if strings.HasPrefix(line, prefix) {
				return sinkHang
			}
			return ""
		}
	}
	replyAt := func(prefix, reply string) func(*sinkConn, string) string {
		return func(_ *sinkConn, line string) string {
			if strings.HasPrefix(line, prefix) {
				return reply
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		sink    sinkConfig
		timeout func(*Options)
		body    string
		dsn     string
		text    string // the start of the result's text
	}{
		{"greeting never comes", sinkConfig{greeting: sinkHang}, func(o *Options) { o.HeloTimeout = short }, "", "4.4.2",
			"conversation with mx1.example.org[127.0.0.1] timed out while receiving the initial server greeting"},
		{"EHLO never answered", sinkConfig{on: hangAt("EHLO")}, func(o *Options) { o.HeloTimeout = short }, "", "4.4.2",
			"conversation with mx1.example.org[127.0.0.1] timed out while performing the EHLO handshake"},
		{"MAIL never answered", sinkConfig{ext: []string{"8BITMIME"}, on: hangAt("MAIL")}, func(o *Options) { o.MailTimeout = short }, "", "4.4.2",
			"conversation with mx1.example.org[127.0.0.1] timed out while sending MAIL FROM"},
		{"RCPT never answered", sinkConfig{ext: []string{"8BITMIME"}, on: hangAt("RCPT")}, func(o *Options) { o.RcptTimeout = short }, "", "4.4.2",
			"conversation with mx1.example.org[127.0.0.1] timed out while sending RCPT TO"},
		{"DATA never answered", sinkConfig{ext: []string{"8BITMIME"}, on: hangAt("DATA")}, func(o *Options) { o.DataInitTimeout = short }, "", "4.4.2",
			"conversation with mx1.example.org[127.0.0.1] timed out while sending DATA command"},
		{"end of data never answered", sinkConfig{on: hangAt(".")}, func(o *Options) { o.DataDoneTimeout = short }, "", "4.4.2",
			"conversation with mx1.example.org[127.0.0.1] timed out while sending end of data -- message may be sent more than once"},
		{"pipelined replies never come", sinkConfig{on: hangAt("DATA")}, func(o *Options) { o.DataInitTimeout = short }, "", "4.4.2",
			"conversation with mx1.example.org[127.0.0.1] timed out while sending DATA command"},
		{"garbage greeting", sinkConfig{greeting: "hello, I am not SMTP"}, nil, "", "4.4.2",
			"malformed reply from mx1.example.org[127.0.0.1] while receiving the initial server greeting"},
		{"garbage to EHLO", sinkConfig{on: replyAt("EHLO", "\x00\x01\x02 what?")}, nil, "", "4.4.2",
			"malformed reply from mx1.example.org[127.0.0.1] while performing the EHLO handshake"},
		{"multi-line reply changes code", sinkConfig{on: replyAt("EHLO", "250-sink.test\r\n251 PIPELINING")}, nil, "", "4.4.2",
			"malformed reply from mx1.example.org[127.0.0.1] while performing the EHLO handshake"},
		{"multi-line reply never ends", sinkConfig{on: replyAt("MAIL", strings.Repeat("250-ok\r\n", 200)+"250 ok")}, nil, "", "4.4.2",
			"malformed reply from mx1.example.org[127.0.0.1] while sending MAIL FROM"},
		{"reply line too long", sinkConfig{on: replyAt("RCPT", "250 "+strings.Repeat("x", 5000))}, nil, "", "4.4.2",
			"malformed reply from mx1.example.org[127.0.0.1] while sending RCPT TO"},
		{"bare LF in reply", sinkConfig{on: replyAt("MAIL", "250 ok\n")}, nil, "", "4.4.2",
			"malformed reply from mx1.example.org[127.0.0.1] while sending MAIL FROM"},
		{"closed at greeting", sinkConfig{greeting: sinkClose}, nil, "", "4.4.2",
			"lost connection with mx1.example.org[127.0.0.1] while receiving the initial server greeting"},
		{"closed at MAIL", sinkConfig{on: replyAt("MAIL", sinkClose)}, nil, "", "4.4.2",
			"lost connection with mx1.example.org[127.0.0.1] while sending"},
		{"closed in the middle of DATA", sinkConfig{on: replyAt("DATA-LINE", sinkClose)}, nil, big, "4.4.2",
			"lost connection with mx1.example.org[127.0.0.1] while sending"},
		{"closed after end of data", sinkConfig{on: replyAt(".", sinkClose)}, nil, "", "4.4.2",
			"lost connection with mx1.example.org[127.0.0.1] while sending end of data -- message may be sent more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			s := newSink(t, tt.sink)
			opt := testOptions(mxFake(s), port(s))
			if tt.timeout != nil {
				tt.timeout(&opt)
			}
			c := newClient(t, opt)
			body := testBody
			if tt.body != "" {
				body = tt.body
			}
			got := deliver(t, c, testMessage(body), rcpts("a@example.org", "b@example.org"))
			for i, r := range got {
				if r.Status != queue.Deferred || r.DSN != tt.dsn || !strings.HasPrefix(r.Text, tt.text) || r.Reply != "" {
					t.Errorf("result %d = %+v, want deferred %s %q...", i, r, tt.dsn, tt.text)
				}
			}
		})
	}
}

func TestContextEndsStuckDelivery(t *testing.T) {
	checkGoroutines(t)
	entered := make(chan struct{}, 1)
	// Without PIPELINING, the client waits for the MAIL reply.
	s := newSink(t, sinkConfig{ext: []string{"8BITMIME"}, on: func(_ *sinkConn, line string) string {
		if strings.HasPrefix(line, "MAIL") {
			entered <- struct{}{}
			return sinkHang
		}
		return ""
	}})
	c := newClient(t, testOptions(mxFake(s), port(s))) // every timeout is 20s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []queue.Result)
	go func() { done <- c.deliver(ctx, testMessage(testBody), rcpts("a@example.org")) }()
	<-entered
	cancel()
	select {
	case got := <-done:
		if got[0].Status != queue.Deferred || !strings.Contains(got[0].Text, "interrupted") {
			t.Errorf("result %+v, want deferred as interrupted", got[0])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("delivery still stuck 10s after its context ended")
	}
}
