package systest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sinkScript is how a sink behaves, fixed when it starts. The zero value
// is a well-behaved server that accepts every message.
type sinkScript struct {
	NoGreeting bool // accept the connection and never say anything
	Mute       bool // greet, then read commands and never answer
	Garbage    bool // answer EHLO and HELO with a line that is not a reply
	CutData    bool // close the connection after the first line of message data
	DSN        bool // announce the DSN extension (RFC 3461)
	// Rcpt is the reply to RCPT TO for an address; nil or "" accepts it.
	Rcpt func(addr string) string
	// Hold says to keep the reply to the end of a message's data: the
	// message goes to sink.held and the session waits for the client to
	// go away, never acknowledging it.
	Hold func(m sinkMsg) bool
}

// sinkMsg is one message a sink received.
type sinkMsg struct {
	From  string
	To    []string // the recipients accepted
	Rcpts []string // their RCPT commands, parameters included
	Data  []byte   // as sent, dot-stuffing undone
}

// sink is a scriptable SMTP server on 127.0.0.3 for tests of outbound
// delivery: it speaks enough SMTP (RFC 5321, PIPELINING) for facteur's
// client and misbehaves on demand.
type sink struct {
	t      testing.TB
	ln     net.Listener
	Addr   string // 127.0.0.3:PORT
	Port   int
	script sinkScript
	held   chan sinkMsg  // messages whose end of data is held
	done   chan struct{} // closed when the sink stops

	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
	accepted []sinkMsg // acknowledged with 250 after the data
	opened   int       // connections accepted
	ended    int       // connections closed, by either side
}

// startSink starts a sink on 127.0.0.3:0, stopped when the test ends.
func startSink(t testing.TB, script sinkScript) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatalf("sink: %v", err)
	}
	s := &sink{t: t, ln: ln, Addr: ln.Addr().String(), script: script,
		held: make(chan sinkMsg, 16), done: make(chan struct{}), conns: make(map[net.Conn]bool)}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *sink) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		select {
		case <-s.done: // stopping: close may have closed the others already
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		s.conns[c] = true
		s.opened++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.ended++
			s.mu.Unlock()
		}()
	}
}

// close stops the listener, closes the sessions and waits for them.
func (s *sink) close() {
	close(s.done)
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Accepted returns the messages acknowledged so far.
func (s *sink) Accepted() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.accepted...)
}

// Conns returns how many connections were opened and how many ended.
func (s *sink) Conns() (opened, ended int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened, s.ended
}

// WaitIdle waits until every connection opened so far has ended, and
// returns how many were opened.
func (s *sink) WaitIdle(timeout time.Duration) int {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		opened, ended := s.Conns()
		if opened == ended {
			return opened
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sink %s: %d of %d connections still open after %v", s.Addr, opened-ended, opened, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sinkIdle is how long a session waits for the client before it gives up:
// longer than any test, so that only the client or the test's end closes it.
const sinkIdle = 2 * time.Minute

// session runs one connection by the script.
func (s *sink) session(c net.Conn) {
	sc := s.script
	br := bufio.NewReader(c)
	read := func() (string, bool) {
		c.SetReadDeadline(time.Now().Add(sinkIdle))
		line, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		return strings.TrimRight(line, "\r\n"), true
	}
	say := func(lines ...string) bool {
		c.SetWriteDeadline(time.Now().Add(sinkIdle))
		_, err := fmt.Fprint(c, strings.Join(lines, "\r\n")+"\r\n")
		return err == nil
	}
	if sc.NoGreeting {
		for {
			if _, ok := read(); !ok {
				return
			}
		}
	}
	if !say("220 sink.test ESMTP") {
		return
	}
	var tx *sinkMsg
	for {
		line, ok := read()
		if !ok {
			return
		}
		if sc.Mute {
			continue
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		var reply []string
		switch {
		case (verb == "EHLO" || verb == "HELO") && sc.Garbage:
			reply = []string{"hello, whoever you are"}
		case verb == "EHLO":
			reply = []string{"250-sink.test", "250-PIPELINING", "250-8BITMIME"}
			if sc.DSN {
				reply = append(reply, "250-DSN")
			}
			reply = append(reply, "250 ENHANCEDSTATUSCODES")
		case verb == "HELO", verb == "NOOP":
			reply = []string{"250 2.0.0 Ok"}
		case verb == "RSET":
			tx = nil
			reply = []string{"250 2.0.0 Ok"}
		case verb == "QUIT":
			say("221 2.0.0 Bye")
			return
		case verb == "MAIL":
			tx = &sinkMsg{From: pathArg(line)}
			reply = []string{"250 2.1.0 Ok"}
		case verb == "RCPT" && tx == nil:
			reply = []string{"503 5.5.1 MAIL first"}
		case verb == "RCPT":
			reply = []string{"250 2.1.5 Ok"}
			if sc.Rcpt != nil {
				if r := sc.Rcpt(pathArg(line)); r != "" {
					reply = []string{r}
				}
			}
			if strings.HasPrefix(reply[0], "2") {
				tx.To = append(tx.To, pathArg(line))
				tx.Rcpts = append(tx.Rcpts, line)
			}
		case verb == "DATA" && (tx == nil || len(tx.To) == 0):
			reply = []string{"554 5.5.1 No valid recipients"}
		case verb == "DATA":
			if !say("354 End data with <CR><LF>.<CR><LF>") {
				return
			}
			m := *tx
			tx = nil
			if !s.readData(read, &m) {
				return
			}
			if sc.Hold != nil && sc.Hold(m) {
				select {
				case s.held <- m:
				case <-s.done:
					return
				}
				for { // until the client goes away
					if _, ok := read(); !ok {
						return
					}
				}
			}
			s.mu.Lock()
			s.accepted = append(s.accepted, m)
			n := len(s.accepted)
			s.mu.Unlock()
			reply = []string{"250 2.0.0 Ok: queued as SINK" + strconv.Itoa(n)}
		default:
			reply = []string{"502 5.5.2 Error: command not recognized"}
		}
		if !say(reply...) {
			return
		}
	}
}

// readData reads message data up to the lone dot into m, undoing the
// dot-stuffing (RFC 5321 §4.5.2). With CutData it reads one line and
// reports false, so that the caller closes the connection.
func (s *sink) readData(read func() (string, bool), m *sinkMsg) bool {
	var b bytes.Buffer
	for {
		line, ok := read()
		if !ok || s.script.CutData {
			return false
		}
		if line == "." {
			m.Data = b.Bytes()
			return true
		}
		b.WriteString(strings.TrimPrefix(line, "."))
		b.WriteString("\r\n")
	}
}

// pathArg returns the address between the angle brackets of a MAIL or
// RCPT command.
func pathArg(line string) string {
	i := strings.IndexByte(line, '<')
	j := strings.IndexByte(line, '>')
	if i < 0 || j < i {
		return ""
	}
	return line[i+1 : j]
}
