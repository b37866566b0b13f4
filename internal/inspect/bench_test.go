package inspect

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkAnalyze25MB inspects a 25 MB message with ten base64
// attachments, extracting them. B/op stays near constant as the message
// grows (the analysis streams: memory is bounded by what it keeps, not by
// the message) and ns/op grows linearly with it; MB/s is the rate.
func BenchmarkAnalyze25MB(b *testing.B) {
	var msg bytes.Buffer
	if _, err := io.Copy(&msg, bigMessage(25<<20, 10)); err != nil {
		b.Fatal(err)
	}
	data := msg.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Analyze(bytes.NewReader(data), Options{Extract: discardExtractor{}})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Message.Body.Parts) != 11 {
			b.Fatalf("%d parts", len(r.Message.Body.Parts))
		}
	}
}
