package smtp

import (
	"crypto/tls"
	"crypto/x509"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/dsn"
	"facteur/internal/queue"
)

func TestHELOWhenEHLORefused(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{noEHLO: true})
	c := newClient(t, testOptions(mxFake(s), port(s)))
	msg := testMessage(testBody)
	msg.env.Body = "8BITMIME"
	got := deliver(t, c, msg, rcpts("bob@example.org"))
	wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "")
	if !got[0].Relayed {
		t.Errorf("Relayed false after a next hop without DSN")
	}
	conns := s.connections()
	want := []string{"EHLO client.test", "HELO client.test", "MAIL FROM:<alice@example.com>", "RCPT TO:<bob@example.org>", "DATA", "QUIT"}
	if diff := cmp.Diff(want, conns[0].cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

func TestEHLORefusals(t *testing.T) {
	tests := []struct {
		reply  string
		status queue.Status
		dsn    string
	}{
		{"421 4.3.2 shutting down", queue.Deferred, "4.3.2"},
		{"451 try later", queue.Deferred, "4.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			checkGoroutines(t)
			s := newSink(t, sinkConfig{on: func(_ *sinkConn, line string) string {
				if strings.HasPrefix(line, "EHLO") {
					return tt.reply
				}
				return ""
			}})
			c := newClient(t, testOptions(mxFake(s), port(s)))
			got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
			wantResult(t, 0, got[0], tt.status, tt.dsn, "host mx1.example.org[127.0.0.1] refused to talk to me: "+tt.reply, "")
			if cmds := s.connections()[0].cmds; len(cmds) != 1 {
				t.Errorf("commands %q: HELO must not follow a 4xx", cmds)
			}
		})
	}
}

func TestGreetingRefused(t *testing.T) {
	checkGoroutines(t)
	// A 4xx greeting at mx1 goes on to mx2; mx2's 5xx, the last, bounces.
	sinks := newSinks(t, sinkConfig{greeting: "421 4.7.0 busy"}, sinkConfig{greeting: "554 5.7.1 go away"})
	c := newClient(t, testOptions(mxFake(sinks...), port(sinks[0])))
	got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
	wantResult(t, 0, got[0], queue.Bounced, "5.7.1", "host mx2.example.org[127.0.0.2] refused to talk to me: 554 5.7.1 go away", "")
	for i, s := range sinks {
		if n := len(s.connections()); n != 1 {
			t.Errorf("sink %d: %d connections, want 1", i, n)
		}
	}
	// The other way round, the last greeting is a 4xx: deferred.
	sinks = newSinks(t, sinkConfig{greeting: "554 5.7.1 go away"}, sinkConfig{greeting: "421 4.7.0 busy"})
	c = newClient(t, testOptions(mxFake(sinks...), port(sinks[0])))
	got = deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
	wantResult(t, 0, got[0], queue.Deferred, "4.7.0", "421 4.7.0 busy", "")
}

func TestSTARTTLS(t *testing.T) {
	cert, pool := testCert(t)
	good := &tls.Config{Certificates: []tls.Certificate{cert}}
	_, otherPool := testCert(t)
	// injected answers STARTTLS with a reply and, in the same write, a
	// command reply meant to be read as if it came over TLS
	// (CVE-2011-0411), on the first connection only.
	injected := func() func(*sinkConn, string) string {
		var once sync.Once
		return func(_ *sinkConn, line string) string {
			r := ""
			if line == "STARTTLS" {
				once.Do(func() { r = "220 2.0.0 Ready\r\n250 2.1.0 Ok" })
			}
			return r
		}
	}
	tests := []struct {
		name      string
		level     string
		sink      sinkConfig
		roots     *x509.CertPool
		status    queue.Status
		dsn       string
		text      string
		conns     int  // connections the sink sees
		tlsOnLast bool // the delivering connection used TLS
	}{
		{"may, offered", TLSMay, sinkConfig{tls: good}, nil, queue.Delivered, "2.0.0", "queued as", 1, true},
		{"may, not offered", TLSMay, sinkConfig{}, nil, queue.Delivered, "2.0.0", "queued as", 1, false},
		{"may, verified", TLSMay, sinkConfig{tls: good}, pool, queue.Delivered, "2.0.0", "queued as", 1, true},
		{"may, handshake fails: plaintext", TLSMay, sinkConfig{brokenTLS: true}, nil, queue.Delivered, "2.0.0", "queued as", 2, false},
		{"may, verification fails: plaintext", TLSMay, sinkConfig{tls: good}, otherPool, queue.Delivered, "2.0.0", "queued as", 2, false},
		{"encrypt, offered", TLSEncrypt, sinkConfig{tls: good}, nil, queue.Delivered, "2.0.0", "queued as", 1, true},
		{"encrypt, not offered", TLSEncrypt, sinkConfig{}, nil, queue.Deferred, "4.7.4",
			"TLS is required, but was not offered by host mx1.example.org[127.0.0.1]", 1, false},
		{"encrypt, handshake fails", TLSEncrypt, sinkConfig{brokenTLS: true}, nil, queue.Deferred, "4.7.5",
			"Cannot start TLS: handshake failure", 1, false},
		{"may, text after the STARTTLS reply: plaintext", TLSMay, sinkConfig{tls: good, on: injected()}, nil,
			queue.Delivered, "2.0.0", "queued as", 2, false},
		{"encrypt, text after the STARTTLS reply", TLSEncrypt, sinkConfig{tls: good, on: injected()}, nil,
			queue.Deferred, "4.7.5", "Cannot start TLS: data after the STARTTLS reply", 1, false},
		{"none", TLSNone, sinkConfig{tls: good}, nil, queue.Delivered, "2.0.0", "queued as", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			s := newSink(t, tt.sink)
			opt := testOptions(mxFake(s), port(s))
			opt.TLSLevel = tt.level
			opt.Cooldown = -1
			if tt.roots != nil {
				opt.TLSConfig = &tls.Config{RootCAs: tt.roots, ServerName: "sink.test"}
			}
			c := newClient(t, opt)
			got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
			wantResult(t, 0, got[0], tt.status, tt.dsn, tt.text, "")
			conns := s.connections()
			if len(conns) != tt.conns {
				t.Fatalf("%d connections, want %d", len(conns), tt.conns)
			}
			last := conns[len(conns)-1]
			if last.tls != tt.tlsOnLast {
				t.Errorf("TLS on the last connection: %v, want %v", last.tls, tt.tlsOnLast)
			}
			if tt.tlsOnLast {
				// RFC 3207 §4.2: EHLO again after the handshake.
				want := []string{"EHLO client.test", "STARTTLS", "EHLO client.test"}
				if diff := cmp.Diff(want, last.cmds[:3]); diff != "" {
					t.Errorf("commands (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestSizeLimit(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{ext: []string{"SIZE 100", "PIPELINING"}})
	c := newClient(t, testOptions(mxFake(s), port(s)))
	msg := testMessage(strings.Repeat("x", 98) + "\r\n\r\n")
	got := deliver(t, c, msg, rcpts("a@example.org", "b@example.org"))
	for i := range got {
		wantResult(t, i, got[i], queue.Bounced, "5.3.4",
			"message size 102 exceeds size limit 100 of server mx1.example.org[127.0.0.1]", "")
	}
	for _, conn := range s.connections() {
		for _, cmd := range conn.cmds {
			if strings.HasPrefix(cmd, "MAIL") {
				t.Errorf("sent %q for a message too large", cmd)
			}
		}
	}
}

func TestSMTPUTF8Required(t *testing.T) {
	checkGoroutines(t)
	plain := newSink(t, sinkConfig{ext: []string{"PIPELINING", "8BITMIME"}})
	utf8 := newSink(t, sinkConfig{})
	for _, tt := range []struct {
		name   string
		s      *sink
		status queue.Status
		dsn    string
		text   string
	}{
		{"not offered", plain, queue.Bounced, "5.6.7", "SMTPUTF8 is required, but was not offered by host mx1.example.org[127.0.0.1]"},
		{"offered", utf8, queue.Delivered, "2.0.0", "queued as"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, testOptions(mxFake(tt.s), port(tt.s)))
			msg := testMessage(testBody)
			msg.env.SMTPUTF8 = true
			msg.env.Sender = "élodie@exemple.fr"
			got := deliver(t, c, msg, rcpts("bob@example.org"))
			wantResult(t, 0, got[0], tt.status, tt.dsn, tt.text, "")
		})
	}
	if msgs := utf8.messages(); len(msgs) != 1 || !strings.HasSuffix(msgs[0].mail, " SMTPUTF8") ||
		!strings.HasPrefix(msgs[0].mail, "FROM:<élodie@exemple.fr>") {
		t.Errorf("messages %+v: want MAIL FROM:<élodie@exemple.fr> ... SMTPUTF8", msgs)
	}
	if n := len(plain.messages()); n != 0 {
		t.Errorf("the next hop without SMTPUTF8 got %d messages", n)
	}
}

func TestDSNParameters(t *testing.T) {
	checkGoroutines(t)
	withDSN := newSink(t, sinkConfig{})
	without := newSink(t, sinkConfig{ext: []string{"PIPELINING", "8BITMIME", "SIZE"}})
	build := func() message {
		msg := testMessage(testBody)
		msg.env.EnvID = "id+1=2 x"
		msg.env.Ret = dsn.RetHdrs
		msg.env.Body = "8BITMIME"
		return msg
	}
	rs := rcpts("a@example.org", "b@example.org")
	rs[0].Notify = dsn.NotifySuccess | dsn.NotifyFailure
	rs[0].ORCPT = dsn.ORCPT{Type: "rfc822", Addr: "orig@example.net"}
	rs[1].Addr = "list@example.net" // rewritten to b@example.org before us
	for _, s := range []*sink{withDSN, without} {
		c := newClient(t, testOptions(mxFake(s), port(s)))
		got := deliver(t, c, build(), rs)
		for i, r := range got {
			wantResult(t, i, r, queue.Delivered, "2.0.0", "queued as", "")
			if r.Relayed != (s == without) {
				t.Errorf("result %d: Relayed %v with a next hop that offers DSN: %v", i, r.Relayed, s == withDSN)
			}
		}
	}
	msgs := withDSN.messages()
	want := sinkMsg{
		mail: "FROM:<alice@example.com> SIZE=" + strconv.Itoa(len(testBody)) + " BODY=8BITMIME RET=HDRS ENVID=id+2B1+3D2+20x",
		rcpts: []string{"TO:<a@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.net",
			"TO:<b@example.org> ORCPT=rfc822;list@example.net"},
		data: []byte(strings.ReplaceAll(testBody, "\r\n.", "\r\n..")),
	}
	if diff := cmp.Diff([]sinkMsg{want}, msgs, cmp.AllowUnexported(sinkMsg{})); diff != "" {
		t.Errorf("with DSN (-want +got):\n%s", diff)
	}
	msgs = without.messages()
	want.mail = "FROM:<alice@example.com> SIZE=" + strconv.Itoa(len(testBody)) + " BODY=8BITMIME"
	want.rcpts = []string{"TO:<a@example.org>", "TO:<b@example.org>"}
	if diff := cmp.Diff([]sinkMsg{want}, msgs, cmp.AllowUnexported(sinkMsg{})); diff != "" {
		t.Errorf("without DSN (-want +got):\n%s", diff)
	}
}

func TestTooManyRecipientsSplit(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(map[bool]string{true: "pipelined", false: "lockstep"}[pipelining], func(t *testing.T) {
			checkGoroutines(t)
			ext := []string{"ENHANCEDSTATUSCODES"}
			if pipelining {
				ext = append(ext, "PIPELINING")
			}
			s := newSink(t, sinkConfig{ext: ext, maxRcpt: 2})
			c := newClient(t, testOptions(mxFake(s), port(s)))
			addrs := []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org", "e@example.org"}
			got := deliver(t, c, testMessage(testBody), rcpts(addrs...))
			for i, r := range got {
				wantResult(t, i, r, queue.Delivered, "2.0.0", "queued as", "")
			}
			var per [][]string
			for _, m := range s.messages() {
				per = append(per, m.rcpts)
			}
			want := [][]string{{"TO:<a@example.org>", "TO:<b@example.org>"}, {"TO:<c@example.org>", "TO:<d@example.org>"},
				{"TO:<e@example.org>"}}
			if diff := cmp.Diff(want, per); diff != "" {
				t.Errorf("transactions (-want +got):\n%s", diff)
			}
			if n := len(s.connections()); n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
		})
	}
}
