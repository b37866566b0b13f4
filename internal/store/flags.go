package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// The system flags of RFC 9051 §2.3.2 that a client may store.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

var systemFlags = []string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft}

// FlagOp says how SetFlags combines the given flags with a message's own,
// as IMAP STORE's FLAGS, +FLAGS and -FLAGS (RFC 9051 §6.4.6).
type FlagOp int

const (
	FlagsReplace FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// flagName validates a flag and returns its stored form: a system flag in
// its canonical case, or a keyword, which RFC 9051 §9 makes an atom.
func flagName(f string) (string, error) {
	if strings.HasPrefix(f, `\`) {
		for _, sf := range systemFlags {
			if strings.EqualFold(f, sf) {
				return sf, nil
			}
		}
		return "", fmt.Errorf("flag %q: not a storable system flag: %w", f, ErrInvalid)
	}
	if f == "" || len(f) > 255 {
		return "", fmt.Errorf("flag %q: empty or too long: %w", f, ErrInvalid)
	}
	for i := 0; i < len(f); i++ {
		// RFC 9051 §9: atom-specials are ( ) { SP CTL % * " \ ] and
		// resp-specials; 8-bit bytes are not CHARs.
		if c := f[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return "", fmt.Errorf("flag %q: not an atom: %w", f, ErrInvalid)
		}
	}
	return f, nil
}

func hasFlag(flags []string, f string) bool {
	return slices.Contains(flags, f)
}

// applyFlags returns the sorted, deduplicated result of op on have.
func applyFlags(have []string, op FlagOp, flags []string) []string {
	var out []string
	switch op {
	case FlagsReplace:
		out = slices.Clone(flags)
	case FlagsAdd:
		out = append(slices.Clone(have), flags...)
	case FlagsRemove:
		out = slices.DeleteFunc(slices.Clone(have), func(f string) bool { return slices.Contains(flags, f) })
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SetFlags changes the flags of the messages with the given UIDs (all of
// the mailbox's if uids is nil); UIDs that do not exist are ignored. Every
// message whose flags change gets one new mod-sequence (RFC 7162 §3.1),
// which is returned; it is 0 if nothing changed.
func (s *Store) SetFlags(ctx context.Context, account, mailbox string, uids []uint32, op FlagOp, flags []string) (uint64, error) {
	if op < FlagsReplace || op > FlagsRemove {
		return 0, fmt.Errorf("unknown flag operation %d", op)
	}
	clean := make([]string, 0, len(flags))
	for _, f := range flags {
		n, err := flagName(f)
		if err != nil {
			return 0, err
		}
		clean = append(clean, n)
	}
	var modseq uint64
	var box int64 // the mailbox changed, if any
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		mb, err := s.lookupMailbox(ctx, tx, account, mailbox)
		if err != nil {
			return err
		}
		msgs, err := selectMessages(ctx, tx, mb.id, uids)
		if err != nil {
			return err
		}
		next := mb.highestModSeq + 1
		changed := false
		for _, m := range msgs {
			nf := applyFlags(m.flags, op, clean)
			if slices.Equal(nf, applyFlags(m.flags, FlagsAdd, nil)) {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?`,
				strings.Join(nf, " "), next, mb.id, m.uid); err != nil {
				return fmt.Errorf("storing flags of message %d: %w", m.uid, err)
			}
			changed = true
		}
		if !changed {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET highestmodseq = ? WHERE id = ?`, next, mb.id); err != nil {
			return fmt.Errorf("updating mailbox: %w", err)
		}
		modseq = uint64(next)
		box = mb.id
		return nil
	})
	if err == nil {
		s.notify(box)
	}
	return modseq, err
}
