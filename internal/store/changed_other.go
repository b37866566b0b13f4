//go:build !linux

package store

import (
	"io/fs"
	"time"
)

// changedAt returns the file's modification time. Where the status-change
// time is not read, a blob hard-linked (LinkFrom) from a file older than
// orphanAge could look old while its delivery is in flight: the sweep's
// cutoff is then too short on such systems, which facteur does not target.
func changedAt(fi fs.FileInfo) time.Time {
	return fi.ModTime()
}
