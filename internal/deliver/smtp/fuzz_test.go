package smtp

import (
	"strings"
	"testing"

	wire "facteur/internal/smtp"
)

// FuzzEHLOReply reads an EHLO reply as the client does.
func FuzzEHLOReply(f *testing.F) {
	f.Add("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n")
	f.Add("250-mx\r\n250-SIZE\r\n250-SIZE -1\r\n250 SIZE 99999999999999999999999\r\n")
	f.Add("250 mx\r\n")
	f.Add("250-2.0.0 mx\r\n250 2.0.0 DSN\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := wire.ReadReply(wire.NewReader(strings.NewReader(s)))
		if err != nil || len(r.Lines) == 0 {
			return
		}
		ext := parseEHLO(r)
		if ext.sizeLimit < 0 {
			t.Errorf("SIZE limit %d", ext.sizeLimit)
		}
		if ext.sizeLimit > 0 && !ext.size {
			t.Error("a SIZE limit without SIZE")
		}
	})
}
