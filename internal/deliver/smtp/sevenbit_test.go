package smtp

import (
	"bytes"
	"strings"
	"testing"

	"facteur/internal/queue"
)

const eightBitBody = "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n\r\nh\xc3\xa9llo\r\n.\r\n"

func TestEightBitConversion(t *testing.T) {
	tests := []struct {
		name     string
		body     string // envelope BODY
		ext      []string
		convert  bool
		mailTail string
	}{
		{"8BITMIME offered", "8BITMIME", []string{"PIPELINING", "8BITMIME"}, false, " BODY=8BITMIME"},
		{"8BITMIME not offered", "8BITMIME", []string{"PIPELINING"}, true, ""},
		{"BINARYMIME is sent with DATA", "BINARYMIME", []string{"PIPELINING", "8BITMIME", "CHUNKING", "BINARYMIME"}, true, ""},
		{"7BIT", "7BIT", []string{"PIPELINING"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			s := newSink(t, sinkConfig{ext: tt.ext})
			c := newClient(t, testOptions(mxFake(s), port(s)))
			msg := testMessage(eightBitBody)
			msg.env.Body = tt.body
			got := deliver(t, c, msg, rcpts("bob@example.org"))
			wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "")
			msgs := s.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			if want := "FROM:<alice@example.com>" + tt.mailTail; msgs[0].mail != want {
				t.Errorf("MAIL %q, want %q", msgs[0].mail, want)
			}
			data := msgs[0].data
			if !tt.convert {
				if want := strings.Replace(eightBitBody, "\r\n.\r\n", "\r\n..\r\n", 1); string(data) != want {
					t.Errorf("data %q, want it as queued %q", data, want)
				}
				return
			}
			for _, b := range data {
				if b >= 0x80 {
					t.Fatalf("8-bit octet in converted data %q", data)
				}
			}
			for _, want := range []string{"Content-Transfer-Encoding: quoted-printable\r\n", "\r\nh=C3=A9llo\r\n", "\r\n..\r\n"} {
				if !bytes.Contains(data, []byte(want)) {
					t.Errorf("converted data %q lacks %q", data, want)
				}
			}
		})
	}
}
