package queue

import (
	"bytes"
	"context"
	"testing"
	"time"

	"facteur/internal/envelope"
)

// BenchmarkCommit queues 5 KB messages from 10 sessions per GOMAXPROCS
// (20 on 2 cores, the accept-rate target's shape); msgs/s above the disk's
// fsync rate shows the group commit at work.
func BenchmarkCommit(b *testing.B) {
	q := openTest(b, "", Options{Now: time.Now})
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 80) // 5120 bytes
	b.SetBytes(int64(len(body)))
	b.SetParallelism(10)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f, err := q.Create(context.Background(), &envelope.Envelope{Sender: "s@example.org", Recipients: []*envelope.Recipient{rcpt("r@example.org", "local")}})
			if err != nil {
				b.Error(err)
				return
			}
			f.Write(body)
			if err := f.Commit(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
