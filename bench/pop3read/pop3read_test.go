package pop3read

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"facteur/internal/pop3d"
	"facteur/internal/store"
)

var msgs = flag.Int("msgs", 10000, "messages in the maildrop")

// body is about 5 KB, as smtp-source's 5120-byte messages.
var body = "From: <load@bench.local>\r\nTo: <pop@bench.test>\r\nSubject: bench\r\n" +
	"Date: Fri, 28 Nov 2025 02:00:00 +0000\r\nMessage-Id: <%d@bench.local>\r\n\r\n" +
	strings.Repeat("La de da de da 1.\r\nLa de da de da 2.\r\nLa de da de da 3.\r\nLa de da de da 4.\r\n", 65)

// maildrops is cmd/facteur's adapter: the store as pop3d sees it.
type maildrops struct{ st *store.Store }

func (m maildrops) Authenticate(ctx context.Context, user, password string) (string, bool, error) {
	ok, err := m.st.Authenticate(ctx, user, password)
	return strings.ToLower(user), ok, err
}

func (m maildrops) List(ctx context.Context, account string) (uint32, []pop3d.Message, error) {
	boxes, err := m.st.Mailboxes(ctx, account)
	if err != nil {
		return 0, nil, err
	}
	var validity uint32
	for _, b := range boxes {
		if b.Name == "INBOX" {
			validity = b.UIDValidity
		}
	}
	infos, err := m.st.Messages(ctx, account, "INBOX")
	if err != nil {
		return 0, nil, err
	}
	out := make([]pop3d.Message, len(infos))
	for i, mi := range infos {
		out[i] = pop3d.Message{UID: mi.UID, Size: mi.Size}
	}
	return validity, out, nil
}

func (m maildrops) Open(ctx context.Context, account string, uid uint32) (io.ReadCloser, error) {
	return m.st.OpenMessage(ctx, account, "INBOX", uid)
}

func (m maildrops) Delete(context.Context, string, []uint32) error { return nil }

// serve fills a store with *msgs messages for the account pop (password
// benchpass, the production argon2id cost) and serves POP3 on loopback;
// it returns the address.
func serve(b *testing.B) string {
	b.Helper()
	st, err := store.OpenWith(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.AddUser(ctx, "pop", "benchpass"); err != nil {
		b.Fatal(err)
	}
	// Concurrent deliveries, so that group commit batches them.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < *msgs; i += 8 {
				if err := deliver(ctx, st, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := pop3d.NewServer(pop3d.Config{Hostname: "bench.local", PlaintextLoopbackOnly: true}, maildrops{st})
	done := make(chan struct{})
	go func() { srv.Serve(ln, false); close(done) }()
	b.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

func deliver(ctx context.Context, st *store.Store, i int) error {
	d, err := st.BeginDelivery(ctx)
	if err != nil {
		return err
	}
	d.Add("pop", "", []byte("Return-Path: <load@bench.local>\r\nDelivered-To: pop@bench.test\r\n"))
	if _, err := fmt.Fprintf(d, body, i); err != nil {
		d.Abort()
		return err
	}
	return d.Commit(ctx)
}

// client is a POP3 client that checks each status line.
type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(b *testing.B, addr string) *client {
	b.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	cl := &client{c, bufio.NewReaderSize(c, 64<<10)}
	cl.status(b) // greeting
	return cl
}

func (cl *client) status(b *testing.B) {
	b.Helper()
	line, err := cl.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+OK") {
		b.Fatalf("reply %q, %v", line, err)
	}
}

func (cl *client) cmd(b *testing.B, line string) {
	b.Helper()
	if _, err := io.WriteString(cl.c, line+"\r\n"); err != nil {
		b.Fatal(err)
	}
	cl.status(b)
}

// multiline reads a multi-line reply's lines up to the final "."; it
// returns how many octets they had.
func (cl *client) multiline(b *testing.B) int {
	b.Helper()
	n := 0
	for range 1 << 20 {
		line, err := cl.r.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if string(line) == ".\r\n" {
			return n
		}
		n += len(line)
	}
	b.Fatal("reply too long")
	return n
}

func (cl *client) login(b *testing.B) {
	b.Helper()
	cl.cmd(b, "USER pop")
	cl.cmd(b, "PASS benchpass")
}

// BenchmarkLogin is one session: USER, PASS (the password check and the
// maildrop's listing) and QUIT.
func BenchmarkLogin(b *testing.B) {
	addr := serve(b)
	for b.Loop() {
		cl := dial(b, addr)
		cl.login(b)
		cl.cmd(b, "QUIT")
		cl.c.Close()
	}
}

// BenchmarkRETR retrieves the messages in turn in one session.
func BenchmarkRETR(b *testing.B) {
	addr := serve(b)
	cl := dial(b, addr)
	defer cl.c.Close()
	cl.login(b)
	i, octets := 0, 0
	for b.Loop() {
		cl.cmd(b, fmt.Sprintf("RETR %d", i%*msgs+1))
		octets += cl.multiline(b)
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "msgs/s")
	b.SetBytes(int64(octets / max(i, 1)))
	cl.cmd(b, "QUIT")
}
