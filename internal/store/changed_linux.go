package store

import (
	"io/fs"
	"syscall"
	"time"
)

// changedAt returns when the file last changed: the later of its
// modification and status-change times. A blob that LinkFrom made is a
// hard link to a queue file, whose modification time may be hours old
// (deferred mail); link(2) sets the status-change time, so a blob linked
// a moment ago looks young.
func changedAt(fi fs.FileInfo) time.Time {
	t := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(st.Ctim.Unix()); c.After(t) {
			return c
		}
	}
	return t
}
