package smtp

import (
	"strings"
	"testing"
	"time"

	"facteur/internal/queue"
)

// BenchmarkRelay relays 5 KB messages to a loopback sink over cached,
// pipelined connections, from one caller and from several.
func BenchmarkRelay(b *testing.B) {
	line := strings.Repeat("x", 78) + "\r\n"
	body := "From: a@example.com\r\nTo: b@example.org\r\nSubject: bench\r\n\r\n" + strings.Repeat(line, 5*1024/len(line))
	for _, parallel := range []bool{false, true} {
		b.Run(map[bool]string{false: "serial", true: "parallel"}[parallel], func(b *testing.B) {
			s := newSink(b, sinkConfig{discard: true})
			opt := testOptions(mxFake(s), port(s))
			opt.ConnCacheTime = time.Minute
			c := New(opt)
			defer c.Close()
			msg := testMessage(body)
			one := func() {
				got := c.deliver(b.Context(), msg, rcpts("bob@example.org"))
				if got[0].Status != queue.Delivered {
					b.Errorf("result %+v", got[0])
				}
			}
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			start := time.Now()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						one()
					}
				})
			} else {
				for b.Loop() {
					one()
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
