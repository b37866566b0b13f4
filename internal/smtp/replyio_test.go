package smtp

import (
	"bufio"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteReply(t *testing.T) {
	tests := []struct {
		reply    *Reply
		enhanced bool
		want     string
	}{
		{NewReply(250, "2.1.0", "Ok"), true, "250 2.1.0 Ok\r\n"},
		{NewReply(250, "2.1.0", "Ok"), false, "250 Ok\r\n"},
		{&Reply{Code: 250, Enhanced: "2.0.0", Lines: []string{"mx", "PIPELINING", "SIZE 10"}}, true,
			"250-2.0.0 mx\r\n250-2.0.0 PIPELINING\r\n250 2.0.0 SIZE 10\r\n"},
		{&Reply{Code: 220, Lines: []string{"mx ESMTP"}}, true, "220 mx ESMTP\r\n"},
		{NewReply(550, "5.1.1", "<a\r\nb>: no"), true, "550 5.1.1 <a??b>: no\r\n"},
		{&Reply{Code: 354}, false, "354 \r\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		w := bufio.NewWriter(&b)
		if err := WriteReply(w, tt.reply, tt.enhanced); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if b.String() != tt.want {
			t.Errorf("WriteReply(%v, %v) = %q, want %q", tt.reply, tt.enhanced, b.String(), tt.want)
		}
	}
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		in   string
		want *Reply
		bad  bool
	}{
		{in: "250 2.1.0 Ok\r\n", want: NewReply(250, "2.1.0", "Ok")},
		{in: "250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n", want: &Reply{Code: 250, Lines: []string{"mx", "PIPELINING", "SIZE 10"}}},
		{in: "550 5.1.1\r\n", want: &Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{""}}},
		{in: "550 2.1.1 odd\r\n", want: NewReply(550, "", "2.1.1 odd")},
		{in: "220\r\n", want: &Reply{Code: 220, Lines: []string{""}}},
		{in: "250-a\r\n251 b\r\n", bad: true},
		{in: "2x0 a\r\n", bad: true},
		{in: "250xa\r\n", bad: true},
		{in: "250-a\r\n", bad: true},
	}
	for _, tt := range tests {
		got, err := ReadReply(NewReader(strings.NewReader(tt.in)))
		if tt.bad {
			if err == nil {
				t.Errorf("ReadReply(%q) = %v, want error", tt.in, got)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("ReadReply(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

func TestReplyRoundTrip(t *testing.T) {
	r := &Reply{Code: 250, Enhanced: "2.0.0", Lines: []string{"one", "two"}}
	var b strings.Builder
	w := bufio.NewWriter(&b)
	WriteReply(w, r, true)
	w.Flush()
	got, err := ReadReply(NewReader(strings.NewReader(b.String())))
	if err != nil || !cmp.Equal(got, r) {
		t.Errorf("round trip: %#v, %v", got, err)
	}
}
