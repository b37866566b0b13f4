package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"facteur/internal/safeio"
)

// newBlobName returns a fresh, unique blob name ("XX/NAME", relative to
// blobs/); no file exists under it yet.
//
// XX comes from the time (it changes every 64 seconds and cycles through
// 256 directories), not from a hash: deliveries finished together land in
// the same directory, so the committer makes all their directory entries
// durable with one fsync per group commit.
func (s *Store) newBlobName() (string, error) {
	now := s.opt.Now()
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("naming blob: %w", err)
	}
	dir := fmt.Sprintf("%02x", uint8(now.Unix()>>6))
	return fmt.Sprintf("%s/%x.%x.%x", dir, now.UnixNano(), s.seq.Add(1), rnd), nil
}

// createBlob creates the empty content file of the blob called name.
func (s *Store) createBlob(name string) (*os.File, error) {
	var f *os.File
	err := s.inBlobDir(name, func(p string) (err error) {
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating blob: %w", err)
	}
	return f, nil
}

// inBlobDir runs mk with the path of the blob called name and, if mk fails
// because the blob's directory is missing, creates it and runs mk again.
func (s *Store) inBlobDir(name string, mk func(path string) error) error {
	p := s.blobPath(name)
	err := mk(p)
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := safeio.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("creating blob directory: %w", err)
	}
	return mk(p)
}

// blobRefs counts, per blob, the message rows that query selects (its one
// column is the blob name).
func blobRefs(ctx context.Context, tx *sql.Tx, query string, args ...any) (map[string]int, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing blobs: %w", err)
	}
	defer rows.Close()
	refs := make(map[string]int)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("listing blobs: %w", err)
		}
		refs[name]++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing blobs: %w", err)
	}
	return refs, nil
}

// releaseBlobs drops refs[name] references from each blob and deletes the
// rows of blobs nobody refers to any more. It returns their names; the
// caller removes the files once the transaction has committed. A blob
// without a row had one message row, the one going (see the schema).
func releaseBlobs(ctx context.Context, tx *sql.Tx, refs map[string]int) ([]string, error) {
	var gone []string
	for name, n := range refs {
		var left int
		err := tx.QueryRowContext(ctx, `UPDATE blobs SET refs = refs - ? WHERE name = ? RETURNING refs`, n, name).Scan(&left)
		if errors.Is(err, sql.ErrNoRows) {
			gone = append(gone, name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("releasing blob %s: %w", name, err)
		}
		if left > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM blobs WHERE name = ?`, name); err != nil {
			return nil, fmt.Errorf("deleting blob %s: %w", name, err)
		}
		gone = append(gone, name)
	}
	return gone, nil
}

// removeBlobs removes the files of blobs whose rows are gone. A crash
// before this leaves an unreferenced file, never a dangling row.
func (s *Store) removeBlobs(names []string) error {
	var errs []error
	for _, name := range names {
		if err := os.Remove(s.blobPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing blob: %w", err))
		}
	}
	return errors.Join(errs...)
}
