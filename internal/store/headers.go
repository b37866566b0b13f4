package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// headerSection returns the header section at the start of head, through
// the empty line that ends it (RFC 5322 §2.1), or all of head when it is
// the whole content and has no body. It is nil when the section goes on
// past head.
func headerSection(head []byte, whole bool) []byte {
	for i := 0; i < len(head); {
		n := bytes.IndexByte(head[i:], '\n')
		if n < 0 {
			break
		}
		line := head[i : i+n+1]
		i += n + 1
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			return head[:i]
		}
	}
	if whole {
		return head
	}
	return nil
}

// headersBatch is how many rows Headers reads per query: the reader
// connection is let go between batches, while fn writes to a client.
const headersBatch = 256

// pointLimit is the number of UIDs up to which Headers and the changes
// of flags and expunges look each one up rather than reading the range
// between the first and the last.
const pointLimit = 64

type headerRow struct {
	uid    uint32
	header []byte
	blob   string
	prefix []byte
}

// Headers calls fn, in UID order, with the header section of each message
// among uids (nil: all of the mailbox's; UIDs not there are skipped), as
// OpenMessage's bytes would start: the recipient's prefix, then the
// content's header through the empty line that ends it (all of the
// content when it has no body). Most come from the message rows, so that
// IMAP's FETCH ENVELOPE of a whole mailbox opens no file. fn must not keep
// the slice after it returns; an error from fn stops Headers and is
// returned.
func (s *Store) Headers(ctx context.Context, account, mailbox string, uids []uint32, fn func(uid uint32, header []byte) error) error {
	mb, err := s.lookupMailbox(ctx, nil, account, mailbox)
	if err != nil {
		return err
	}
	if uids != nil {
		uids = slices.Clone(uids)
		slices.Sort(uids)
		uids = slices.Compact(uids)
		if len(uids) == 0 {
			return nil
		}
		if len(uids) <= pointLimit {
			for _, uid := range uids {
				rows, err := s.rdb.QueryContext(ctx, `SELECT uid, header, blob, prefix FROM messages
					WHERE mailbox_id = ? AND uid = ?`, mb.id, uid)
				if err != nil {
					return fmt.Errorf("reading headers: %w", err)
				}
				if err := s.headerRows(rows, nil, fn); err != nil {
					return err
				}
			}
			return nil
		}
		if span := int64(uids[len(uids)-1]) - int64(uids[0]) + 1; span > 4*int64(len(uids)) {
			return s.sparseHeaders(ctx, mb.id, uids, fn)
		}
	}
	lo, hi := int64(0), int64(maxUID)
	if uids != nil {
		lo, hi = int64(uids[0])-1, int64(uids[len(uids)-1])
	}
	for {
		rows, err := s.rdb.QueryContext(ctx, `SELECT uid, header, blob, prefix FROM messages
			WHERE mailbox_id = ? AND uid > ? AND uid <= ? ORDER BY uid LIMIT ?`, mb.id, lo, hi, headersBatch)
		if err != nil {
			return fmt.Errorf("reading headers: %w", err)
		}
		var last uint32
		n := 0
		err = s.headerRows(rows, func(uid uint32) bool {
			last = uid
			n++
			_, ok := slices.BinarySearch(uids, uid)
			return uids == nil || ok
		}, fn)
		if err != nil {
			return err
		}
		if n < headersBatch {
			return nil
		}
		lo = int64(last)
	}
}

// sparseHeaders reads the headers of UIDs scattered over a much larger
// range in batches of explicit UIDs, rather than the whole range.
func (s *Store) sparseHeaders(ctx context.Context, mailboxID int64, uids []uint32, fn func(uint32, []byte) error) error {
	for len(uids) > 0 {
		batch := uids[:min(len(uids), headersBatch)]
		uids = uids[len(batch):]
		args := make([]any, 0, len(batch)+1)
		args = append(args, mailboxID)
		for _, u := range batch {
			args = append(args, u)
		}
		rows, err := s.rdb.QueryContext(ctx, `SELECT uid, header, blob, prefix FROM messages
			WHERE mailbox_id = ? AND uid IN (?`+strings.Repeat(", ?", len(batch)-1)+`) ORDER BY uid`, args...)
		if err != nil {
			return fmt.Errorf("reading headers: %w", err)
		}
		if err := s.headerRows(rows, nil, fn); err != nil {
			return err
		}
	}
	return nil
}

// headerRows reads every row, closes rows, then calls fn for those keep
// accepts (nil: all), reading the blob of a row without a cached header.
func (s *Store) headerRows(rows *sql.Rows, keep func(uint32) bool, fn func(uint32, []byte) error) error {
	var batch []headerRow
	for rows.Next() {
		var r headerRow
		if err := rows.Scan(&r.uid, &r.header, &r.blob, &r.prefix); err != nil {
			rows.Close()
			return fmt.Errorf("reading headers: %w", err)
		}
		if keep == nil || keep(r.uid) {
			batch = append(batch, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading headers: %w", err)
	}
	for _, r := range batch {
		h := r.header
		if h == nil {
			var err error
			if h, err = s.readHeader(r); errors.Is(err, fs.ErrNotExist) {
				continue // expunged meanwhile
			} else if err != nil {
				return err
			}
		}
		if err := fn(r.uid, h); err != nil {
			return err
		}
	}
	return nil
}

// readHeader reads the header section of a message whose row has none
// cached: the prefix, then the blob's lines through the empty one.
func (s *Store) readHeader(r headerRow) ([]byte, error) {
	f, err := os.Open(s.blobPath(r.blob))
	if err != nil {
		return nil, fmt.Errorf("reading header of message %d: %w", r.uid, err)
	}
	defer f.Close()
	out := slices.Clone(r.prefix)
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadSlice('\n')
		out = append(out, line...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			return out, nil // a message without a body
		case err != nil:
			return nil, fmt.Errorf("reading header of message %d: %w", r.uid, err)
		case len(line) == 1 || (len(line) == 2 && line[0] == '\r'):
			return out, nil
		}
	}
}
