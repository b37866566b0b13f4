package store

import (
	"context"
	"io"
	"strings"
	"testing"
)

var benchBody = sample + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 30)

// benchDeliver runs b.N deliveries from many goroutines, as concurrent
// SMTP sessions would, so that group commit has company to batch.
func benchDeliver(b *testing.B, s *Store) {
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			d, err := s.BeginDelivery(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			d.Add("toto", "", []byte("Delivered-To: toto@localhost\r\n"))
			io.WriteString(d, benchBody)
			if err := d.Commit(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkDeliver delivers into an empty mailbox.
func BenchmarkDeliver(b *testing.B) {
	benchDeliver(b, newStore(b, "toto"))
}

// BenchmarkDeliverFull100k delivers into a mailbox already holding
// 100,000 messages: the rate must match BenchmarkDeliver's.
func BenchmarkDeliverFull100k(b *testing.B) {
	if testing.Short() {
		b.Skip("fills a mailbox with 100,000 messages")
	}
	s := newStore(b, "toto")
	prefill(b, s, 100_000)
	benchDeliver(b, s)
}

// prefill puts n messages sharing one blob row into toto's INBOX with
// direct inserts, much faster than n deliveries.
func prefill(b *testing.B, s *Store, n int) {
	ctx := context.Background()
	mb, err := s.lookupMailbox(ctx, s.rdb, "toto", "")
	if err != nil {
		b.Fatal(err)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	st, err := prepareBatch(ctx, tx)
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	req := &commitReq{blob: "00/prefill", size: int64(len(benchBody)), hdr: parseHeader([]byte(benchBody))}
	for range n {
		req.rcpts = append(req.rcpts, recipient{"toto", "INBOX", []byte{}})
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
