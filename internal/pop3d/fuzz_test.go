package pop3d

import (
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	good := []struct {
		line, name string
		args       []string
		rest       string
	}{
		{"STAT", "STAT", nil, ""},
		{"list 2", "LIST", []string{"2"}, "2"},
		{"PASS a  b ", "PASS", []string{"a", "b"}, "a  b "},
		{"TOP 1 10", "TOP", []string{"1", "10"}, "1 10"},
		{"AUTH PLAIN =", "AUTH", []string{"PLAIN", "="}, "PLAIN ="},
	}
	for _, tt := range good {
		c, err := ParseCommand(tt.line)
		if err != nil || c.Name != tt.name || strings.Join(c.Args, "|") != strings.Join(tt.args, "|") || c.Rest != tt.rest {
			t.Errorf("ParseCommand(%q) = %+v, %v", tt.line, c, err)
		}
	}
	bad := []string{"", "  ", "ST", "STATS", "ST4T", "STAT\x00", "RETR 1\x1b", "é12", "LIST 1 2 3 4 5 6 7 8 9", "\x7fABC"}
	for _, line := range bad {
		if c, err := ParseCommand(line); err == nil {
			t.Errorf("ParseCommand(%q) = %+v, want an error", line, c)
		}
	}
}

func TestParseMsgNum(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		good bool
	}{
		{"1", 1, true}, {"0042", 42, true}, {"9999999999", 9999999999, true},
		{"0", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"", 0, false}, {"1a", 0, false}, {"99999999999", 0, false},
	}
	for _, tt := range tests {
		n, ok := parseMsgNum(tt.in)
		if ok != tt.good || ok && n != tt.n {
			t.Errorf("parseMsgNum(%q) = %d, %v", tt.in, n, ok)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"STAT", "LIST 1", "TOP 1 0", "AUTH PLAIN AHRvdG8Ac2VjcmV0", "PASS a b c", "UIDL 99999999999", "\x00", "RETR -1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCommand(line)
		if err != nil {
			return
		}
		if len(c.Name) < 3 || len(c.Name) > 4 || c.Name != strings.ToUpper(c.Name) {
			t.Fatalf("ParseCommand(%q): name %q", line, c.Name)
		}
		if len(c.Args) > maxArgs || !strings.HasSuffix(line, c.Rest) {
			t.Fatalf("ParseCommand(%q) = %+v", line, c)
		}
		for _, a := range c.Args {
			if a == "" || strings.ContainsAny(a, " \r\n\x00") {
				t.Fatalf("ParseCommand(%q): argument %q", line, a)
			}
		}
		for _, a := range c.Args {
			parseMsgNum(a)
		}
	})
}
