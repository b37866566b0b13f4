package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"time"
)

// orphanAge is how long ago a blob file must have last changed before the
// sweep may remove it: longer than any delivery takes from its first Write
// (or LinkFrom) to its Commit, so that a blob in flight is never touched.
const orphanAge = time.Hour

// sweepBatch bounds the candidate names held at once: each batch costs one
// query, a scan of the messages of the directories it covers.
const sweepBatch = 10000

// sweepOrphans removes the blob files that no row names: left by a crash
// between a delivery's blob and its commit, or by a failed commit whose
// blob could not be removed. It runs once, in the background, from Open.
//
// Candidates are collected directory by directory (blob directories follow
// the clock, so one directory holds one stretch of time's mail) and checked
// in batches, one query per batch rather than one per file: the messages
// table has no index on blob (it would cost every delivery a B-tree write),
// so a lookup per file would scan it once per file.
func (s *Store) sweepOrphans(ctx context.Context) {
	cutoff := s.opt.Now().Add(-orphanAge)
	root := s.blobPath("")
	dirs, err := os.ReadDir(root)
	if err != nil {
		s.opt.Debug.Error("sweeping orphan blobs", "err", err)
		return
	}
	var batch []string // "XX/NAME", in directory order
	for _, d := range dirs {
		if ctx.Err() != nil {
			return
		}
		if !d.IsDir() || !validBlobDir(d.Name()) {
			continue
		}
		names, err := oldBlobs(root, d.Name(), cutoff)
		if err != nil {
			s.opt.Debug.Error("sweeping orphan blobs", "dir", d.Name(), "err", err)
			continue
		}
		batch = append(batch, names...)
		if len(batch) >= sweepBatch {
			s.sweepBatch(ctx, batch)
			batch = batch[:0]
		}
	}
	s.sweepBatch(ctx, batch)
}

// oldBlobs lists the blob files of directory dir (under root) that last
// changed before cutoff, as "XX/NAME".
func oldBlobs(root, dir string, cutoff time.Time) ([]string, error) {
	entries, err := os.ReadDir(root + "/" + dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !validBlobFile(e.Name()) {
			continue // not a blob: none of the store's business to remove
		}
		fi, err := e.Info()
		if err != nil || changedAt(fi).After(cutoff) {
			continue // gone meanwhile, or possibly in flight
		}
		names = append(names, dir+"/"+e.Name())
	}
	return names, nil
}

// sweepBatch removes the files of the names in batch (sorted by directory)
// that no messages or blobs row names.
func (s *Store) sweepBatch(ctx context.Context, batch []string) {
	if len(batch) == 0 {
		return
	}
	orphans, err := s.unreferenced(ctx, batch)
	if err != nil {
		if ctx.Err() == nil {
			s.opt.Debug.Error("sweeping orphan blobs", "err", err)
		}
		return
	}
	for _, name := range orphans {
		if ctx.Err() != nil {
			return
		}
		err := os.Remove(s.blobPath(name))
		switch {
		case err == nil:
			s.opt.Debug.Info("removed orphan blob with no message", "blob", name)
		case !errors.Is(err, fs.ErrNotExist):
			s.opt.Debug.Error("removing orphan blob", "blob", name, "err", err)
		}
	}
}

// unreferenced returns the names of batch that no row names. One statement
// reads both tables, so both come from one snapshot. A name seen
// unreferenced cannot gain a row afterwards: a new message row names
// either a new blob (young, not a candidate) or the blob of an existing
// row (a copy), which was in the snapshot.
func (s *Store) unreferenced(ctx context.Context, batch []string) ([]string, error) {
	// The names of directories "lo" to "hi" lie in ["lo/", "hi0"): '0'
	// follows '/' in ASCII.
	lo := path.Dir(batch[0]) + "/"
	hi := path.Dir(batch[len(batch)-1]) + "0"
	rows, err := s.rdb.QueryContext(ctx, `SELECT blob FROM messages WHERE blob >= ? AND blob < ?
		UNION SELECT name FROM blobs WHERE name >= ? AND name < ?`, lo, hi, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("listing referenced blobs: %w", err)
	}
	defer rows.Close()
	left := make(map[string]bool, len(batch))
	for _, name := range batch {
		left[name] = true
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("listing referenced blobs: %w", err)
		}
		delete(left, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing referenced blobs: %w", err)
	}
	return slices.DeleteFunc(batch, func(n string) bool { return !left[n] }), nil
}

// validBlobDir reports whether name is a blob directory: two lowercase
// hexadecimal digits (newBlobName).
func validBlobDir(name string) bool {
	return len(name) == 2 && isLowerHex(name)
}

// validBlobFile reports whether name can be a blob file made by
// newBlobName: hexadecimal fields separated by dots. Anything else (an
// operator's file, an editor's backup) is left alone.
func validBlobFile(name string) bool {
	if name == "" || name[0] == '.' {
		return false
	}
	for _, c := range []byte(name) {
		if c != '.' && !lowerHex(c) {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if !lowerHex(c) {
			return false
		}
	}
	return true
}

func lowerHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}
