package systest

import (
	"os/exec"
	"strings"
	"testing"
)

// needIMAP skips a test while the binary has no IMAP server to test.
func needIMAP(t *testing.T) {
	t.Helper()
	out, _ := exec.Command(bin, "config").Output()
	if !strings.Contains(string(out), "imap_listen") {
		t.Skip("this facteur has no imap_listen")
	}
}
