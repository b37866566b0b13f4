package header

import "testing"

func TestIsField(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"Subject: hi", true},
		{"Subject:", true},
		{"X-Empty:value", true},
		{"Subject : obsolete but read", true},
		{"Subject\t: tab", true},
		{": no name", false},
		{" Subject: continuation", false},
		{"", false},
		{"no colon here", false},
		{"Two words: not a name", false},
		{"Caf\xc3\xa9: 8-bit name", false},
		{"Subject", false},
		{"From nobody Mon Jan  1", false}, // an mbox separator
	}
	for _, tt := range tests {
		if got := IsField([]byte(tt.line)); got != tt.want {
			t.Errorf("IsField(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestFields(t *testing.T) {
	type field struct{ name, value string }
	tests := []struct {
		in    string
		limit int
		want  []field
	}{
		{"A: 1\r\nB:2\r\n\r\nC: body\r\n", 0, []field{{"A", " 1"}, {"B", "2"}}},
		{"Subject: a\r\n b\r\n\tc\r\n", 0, []field{{"Subject", " a b\tc"}}},
		{"A: 1\nB: 2\n\nC: 3\n", 0, []field{{"A", " 1"}, {"B", " 2"}}},
		{" orphan\r\ngarbage\r\nBad Name: x\r\nTo: t\r\n", 0, []field{{"To", " t"}}},
		{"Long: ab\r\n cd\r\n ef\r\n", 6, []field{{"Long", " ab cd"}}},
		{"Cut: short", 0, []field{{"Cut", " short"}}},
		{"\r\nA: after the end\r\n", 0, nil},
		{"", 0, nil},
	}
	for _, tt := range tests {
		var got []field
		Fields([]byte(tt.in), tt.limit, func(name string, value []byte) {
			got = append(got, field{name, string(value)})
		})
		if len(got) != len(tt.want) {
			t.Errorf("Fields(%q) = %q, want %q", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("Fields(%q) = %q, want %q", tt.in, got, tt.want)
				break
			}
		}
	}
}
