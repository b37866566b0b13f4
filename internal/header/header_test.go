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
