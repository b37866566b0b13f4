//go:build unix

package maildir

import (
	"path/filepath"
	"syscall"
	"testing"
)

// A FIFO in a folder is a problem when listed, and Open of one (swapped
// in after the listing) fails at once instead of waiting for a writer.
func TestFIFO(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "cur"))
	fifo := filepath.Join(root, "cur", "1.2.host:2,S")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFO here:", err)
	}
	md, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	msgs, problems, err := md.Messages(Folder{"INBOX", "."})
	if err != nil || len(msgs) != 0 || len(problems) != 1 {
		t.Errorf("Messages: %v, %v, %v; want one problem", msgs, problems, err)
	}
	if r, err := md.Open(Message{Path: "cur/1.2.host:2,S"}); err == nil {
		r.Close()
		t.Error("opened a FIFO")
	}
}
