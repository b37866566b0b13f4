package store

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

var benchBody = sample + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 30)

// benchDeliver runs b.N deliveries from many goroutines, as concurrent
// SMTP sessions would, so that group commit has company to batch. content
// gives delivery i its content.
func benchDeliver(b *testing.B, s *Store, content func(d *Delivery, i int) error) {
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			d, err := s.BeginDelivery(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			d.Add("toto", "", []byte("Delivered-To: toto@localhost\r\n"))
			if err := content(d, int(next.Add(1)-1)); err != nil {
				b.Error(err)
				return
			}
			if err := d.Commit(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// writeBody gives a delivery its content with Write.
func writeBody(d *Delivery, _ int) error {
	_, err := io.WriteString(d, benchBody)
	return err
}

// BenchmarkDeliver delivers into an empty mailbox.
func BenchmarkDeliver(b *testing.B) {
	benchDeliver(b, newStore(b, "toto"), writeBody)
}

// BenchmarkDeliverLinkFrom delivers into an empty mailbox content taken
// from files with LinkFrom, as local delivery does from queue files. The
// files are written beforehand, outside the timing, as the queue writes
// them before delivery starts.
func BenchmarkDeliverLinkFrom(b *testing.B) {
	s := newStore(b, "toto")
	src := b.TempDir()
	for i := range b.N {
		if err := os.WriteFile(filepath.Join(src, strconv.Itoa(i)), []byte(benchBody), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	benchDeliver(b, s, func(d *Delivery, i int) error {
		return d.LinkFrom(filepath.Join(src, strconv.Itoa(i)))
	})
}

// BenchmarkDeliverFull100k delivers into a mailbox already holding
// 100,000 messages: the rate must match BenchmarkDeliver's.
func BenchmarkDeliverFull100k(b *testing.B) {
	if testing.Short() {
		b.Skip("fills a mailbox with 100,000 messages")
	}
	s := newStore(b, "toto")
	prefill(b, s, 100_000)
	benchDeliver(b, s, writeBody)
}

// prefill puts n messages sharing one blob row into toto's INBOX with
// direct inserts, much faster than n deliveries.
func prefill(b *testing.B, s *Store, n int) {
	ctx := context.Background()
	mb, err := s.lookupMailbox(ctx, nil, "toto", "")
	if err != nil {
		b.Fatal(err)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	st := s.batchStmts(ctx, tx)
	defer st.close()
	req := &commitReq{blob: "00/prefill", size: int64(len(benchBody)), hdr: parseHeader([]byte(benchBody)),
		section: headerSection([]byte(benchBody), true)}
	for range n {
		req.rcpts = append(req.rcpts, recipient{account: "toto", mailbox: "INBOX", prefix: []byte{}})
	}
	targets := make([]*batchMailbox, n)
	box := &batchMailbox{mailboxRow: mb}
	for i := range targets {
		targets[i] = box
	}
	if err := st.insert(ctx, req, targets); err != nil {
		b.Fatal(err)
	}
	if _, err := st.updateMailbox.ExecContext(ctx, box.uidnext, box.highestModSeq, box.messages, box.id); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if c, _ := s.Count(ctx, "toto", ""); c != n {
		b.Fatalf("prefilled %d messages, want %d", c, n)
	}
}

// BenchmarkUserExists is the account lookup that recipient resolution and
// local delivery make for every recipient.
func BenchmarkUserExists(b *testing.B) {
	s := newStore(b, "toto")
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := s.UserExists(ctx, "toto"); !ok || err != nil {
				b.Errorf("UserExists = %v, %v", ok, err)
				return
			}
		}
	})
}

// BenchmarkCount is the mailbox lookup behind Count, Messages and
// OpenMessage.
func BenchmarkCount(b *testing.B) {
	s := newStore(b, "toto")
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Count(ctx, "toto", ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// bench10k runs list on a mailbox of 10,000 prefilled messages, list
// returning how many it saw.
func bench10k(b *testing.B, list func(ctx context.Context, s *Store) (int, error)) {
	s := newStore(b, "toto")
	prefill(b, s, 10_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if n, err := list(ctx, s); err != nil || n != 10_000 {
			b.Fatalf("listed %d messages, %v; want 10000", n, err)
		}
	}
}

// BenchmarkHeaders10k reads the header of every message of a 10,000
// message mailbox, as IMAP's FETCH 1:* ENVELOPE does.
func BenchmarkHeaders10k(b *testing.B) {
	bench10k(b, func(ctx context.Context, s *Store) (int, error) {
		n := 0
		err := s.Headers(ctx, "toto", "", nil, func(uint32, []byte) error { n++; return nil })
		return n, err
	})
}

// BenchmarkMessages10k lists a 10,000 message mailbox with the header
// fields, as `facteur mailbox list` does.
func BenchmarkMessages10k(b *testing.B) {
	bench10k(b, func(ctx context.Context, s *Store) (int, error) {
		msgs, err := s.Messages(ctx, "toto", "")
		return len(msgs), err
	})
}

// BenchmarkIndex10k is Messages without the header fields, as IMAP's
// SELECT lists.
func BenchmarkIndex10k(b *testing.B) {
	bench10k(b, func(ctx context.Context, s *Store) (int, error) {
		msgs, _, err := s.Index(ctx, "toto", "")
		return len(msgs), err
	})
}

// BenchmarkOpenMessage opens and reads one message, as POP3's RETR and
// IMAP's FETCH BODY[] do.
func BenchmarkOpenMessage(b *testing.B) {
	s := newStore(b, "toto")
	if err := deliver(b, s, benchBody, rcpt{"toto", "", ""}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	buf := make([]byte, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		rc, err := s.OpenMessage(ctx, "toto", "", 1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(rc, buf[:len(benchBody)]); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

// BenchmarkMatching10k is the listing behind IMAP SEARCH SUBJECT.
func BenchmarkMatching10k(b *testing.B) {
	s := newStore(b, "toto")
	prefill(b, s, 10_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Matching(ctx, "toto", "", "subject", "needle"); err != nil {
			b.Fatal(err)
		}
	}
}
