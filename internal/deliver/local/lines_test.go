package local

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestCopyLines(t *testing.T) {
	long := strings.Repeat("y", 40)
	tests := []struct {
		name, in string
		quote    bool
		want     string
		nl       bool
	}{
		{"crlf to lf", "A: b\r\n\r\nbody\r\n", false, "A: b\n\nbody\n", true},
		{"from quoted", "A: b\r\n\r\nFrom me\r\nFrom\r\n>From x\r\n From y\r\n", true,
			"A: b\n\n>From me\nFrom\n>From x\n From y\n", true},
		{"from not quoted for commands", "From me\r\n", false, "From me\n", true},
		{"no final line ending", "body\r\nlast", false, "body\nlast", false},
		{"final bare CR kept", "body\r", false, "body\r", false},
		{"lone CR kept", "a\rb\r\r\n", false, "a\rb\r\n", true},
		{"bare LF kept", "a\nb\n", true, "a\nb\n", true},
		{"empty", "", true, "", true},
		{"long line split in fragments", "From " + long + "\r\n" + long + "From \r\n", true,
			">From " + long + "\n" + long + "From \n", true},
		{"CRLF across fragments", strings.Repeat("z", 15) + "\r\nFrom x\r\n", true,
			strings.Repeat("z", 15) + "\n>From x\n", true},
	}
	for _, tt := range tests {
		for _, size := range []int{16, 32 << 10} {
			var b bytes.Buffer
			w := bufio.NewWriter(&b)
			nl, err := copyLinesSize(w, strings.NewReader(tt.in), tt.quote, size)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want || nl != tt.nl {
				t.Errorf("%s (size %d): got %q, %v; want %q, %v", tt.name, size, b.String(), nl, tt.want, tt.nl)
			}
		}
	}
}

// FuzzCopyLines checks copyLines against a plain reference: CRLF becomes
// LF and, when quoting, each line beginning "From " gets a ">".
func FuzzCopyLines(f *testing.F) {
	f.Add([]byte("A: b\r\n\r\nFrom me\r\n"), true)
	f.Add([]byte("x\r\r\n\r"), false)
	f.Add([]byte(strings.Repeat("From ", 10)+"\r\n"), true)
	f.Fuzz(func(t *testing.T, in []byte, quote bool) {
		want := strings.ReplaceAll(string(in), "\r\n", "\n")
		if quote {
			lines := strings.SplitAfter(want, "\n")
			for i, l := range lines {
				if strings.HasPrefix(l, "From ") {
					lines[i] = ">" + l
				}
			}
			want = strings.Join(lines, "")
		}
		for _, size := range []int{16, 4096} {
			var b bytes.Buffer
			w := bufio.NewWriter(&b)
			nl, err := copyLinesSize(w, bytes.NewReader(in), quote, size)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != want {
				t.Fatalf("size %d: got %q, want %q", size, b.String(), want)
			}
			if wantNL := want == "" || strings.HasSuffix(want, "\n"); nl != wantNL {
				t.Fatalf("size %d: ends with newline %v, want %v", size, nl, wantNL)
			}
		}
	})
}
