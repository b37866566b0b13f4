package queue

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// orphanAge is how old a content file without a row must be before the
// sweep removes it: older than any session still writing one.
const orphanAge = time.Hour

// sweepOrphans removes content files that no row names: left by a crash
// between Create and Commit, or between the removal of a message's rows and
// of its file. Files younger than orphanAge may belong to a session still
// writing and are kept.
func (q *Queue) sweepOrphans(ctx context.Context) {
	cutoff := time.Now().Add(-orphanAge) // file times are the real clock's
	root := filepath.Join(q.dir, "msg")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !validID(d.Name()) {
			return err
		}
		fi, err := d.Info()
		if err != nil || fi.ModTime().After(cutoff) {
			return nil
		}
		var one int
		err = q.db.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE id = ?`, d.Name()).Scan(&one)
		if !errors.Is(err, sql.ErrNoRows) {
			return ctx.Err() // queued (or unknown): keep
		}
		if err := os.Remove(path); err == nil {
			q.qmgr.Warn("%s: removed orphan queue file with no envelope", d.Name())
		}
		return nil
	})
	if err != nil {
		q.opt.Debug.Error("sweeping orphan queue files", "err", err)
	}
}
