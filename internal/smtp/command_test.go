package smtp

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		want Command
		bad  bool
	}{
		{line: "QUIT", want: Command{Verb: "QUIT"}},
		{line: "ehlo client.example", want: Command{Verb: "EHLO", Arg: "client.example"}},
		{line: "Mail FROM:<a@b> SIZE=10", want: Command{Verb: "MAIL", Arg: "FROM:<a@b> SIZE=10"}},
		{line: "NOOP   x  ", want: Command{Verb: "NOOP", Arg: "x"}},
		{line: "", bad: true},
		{line: " QUIT", bad: true},
		{line: "QU\x00IT", bad: true},
		{line: "8BITMIME", bad: true},
		{line: "\xff\xfe", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.line)
		if tt.bad {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("ParseCommand(%q) = %v, %v; want syntax error", tt.line, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
		}
	}
}

func TestParsePathArg(t *testing.T) {
	tests := []struct {
		arg, kw string
		path    string
		params  []Param
		bad     bool
	}{
		{arg: "FROM:<a@b>", kw: "FROM", path: "a@b"},
		{arg: "from:<>", kw: "FROM", path: ""},
		{arg: "FROM: <a@b>", kw: "FROM", path: "a@b"},
		{arg: "FROM:a@b SIZE=10", kw: "FROM", path: "a@b", params: []Param{{"SIZE", "10"}}},
		{arg: "TO:<\"x y>z\"@b> notify=SUCCESS,FAILURE ORCPT=rfc822;x+2By@b", kw: "TO", path: `"x y>z"@b`,
			params: []Param{{"NOTIFY", "SUCCESS,FAILURE"}, {"ORCPT", "rfc822;x+2By@b"}}},
		{arg: `TO:<"a\"> b"@c>`, kw: "TO", path: `"a\"> b"@c`},
		{arg: "FROM:<a@b>  SMTPUTF8  BODY=8BITMIME", kw: "FROM", path: "a@b", params: []Param{{"SMTPUTF8", ""}, {"BODY", "8BITMIME"}}},
		{arg: "FROM:<a@b> ENVID=é", kw: "FROM", path: "a@b", params: []Param{{"ENVID", "é"}}},
		{arg: "TO:<a@b>", kw: "FROM", bad: true},
		{arg: "FROM<a@b>", kw: "FROM", bad: true},
		{arg: "FROM:", kw: "FROM", bad: true},
		{arg: "FROM:<a@b", kw: "FROM", bad: true},
		{arg: "FROM:<a@b>x", kw: "FROM", bad: true},
		{arg: "FROM:<a\x00@b>", kw: "FROM", bad: true},
		{arg: "FROM:<a\r\n@b>", kw: "FROM", bad: true},
		{arg: "FROM:<a@b> SIZE=", kw: "FROM", bad: true},
		{arg: "FROM:<a@b> =1", kw: "FROM", bad: true},
		{arg: "FROM:<a@b> -X=1", kw: "FROM", bad: true},
		{arg: "FROM:<a@b> ENVID=a\x00b", kw: "FROM", bad: true},
		{arg: "FROM:<a@b> ENVID=a\rb", kw: "FROM", bad: true},
	}
	for _, tt := range tests {
		path, params, err := ParsePathArg(tt.arg, tt.kw)
		if tt.bad {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("ParsePathArg(%q) = %q, %v, %v; want syntax error", tt.arg, path, params, err)
			}
			continue
		}
		if err != nil || path != tt.path || !cmp.Equal(params, tt.params) {
			t.Errorf("ParsePathArg(%q) = %q, %v, %v; want %q, %v", tt.arg, path, params, err, tt.path, tt.params)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	f.Add("MAIL FROM:<a@b> SIZE=10")
	f.Add("quit")
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCommand(line)
		if err != nil {
			return
		}
		if c.Verb == "" || len(c.Verb) > len(line) || len(c.Arg) > len(line) {
			t.Fatalf("ParseCommand(%q) = %+v", line, c)
		}
	})
}

func FuzzParsePathArg(f *testing.F) {
	f.Add("FROM:<a@b> SIZE=10 BODY=8BITMIME", "FROM")
	f.Add(`TO:<"a> b"@c> NOTIFY=NEVER`, "TO")
	f.Fuzz(func(t *testing.T, arg, kw string) {
		path, params, err := ParsePathArg(arg, kw)
		if err != nil {
			return
		}
		for _, c := range []string{"\r", "\n", "\x00"} {
			for _, p := range params {
				if bytesContain(p.Key+p.Value, c) {
					t.Fatalf("param %+v holds %q", p, c)
				}
			}
			if bytesContain(path, c) {
				t.Fatalf("path %q holds %q", path, c)
			}
		}
	})
}

func bytesContain(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
