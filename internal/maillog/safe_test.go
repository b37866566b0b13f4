package maillog

import (
	"strings"
	"testing"
)

func TestSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"toto", "toto"},
		{"to\r\nto: forged line", "to??to: forged line"},
		{"a\x00b\x7fc", "a?b?c"},
		{strings.Repeat("x", 70), strings.Repeat("x", 64) + "..."},
	}
	for _, tt := range tests {
		if got := Safe(tt.in); got != tt.want {
			t.Errorf("Safe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
