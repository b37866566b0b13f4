package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// Fetch is RFC 9051 §6.4.5 FETCH and UID FETCH. Messages are read one at
// a time, and only when an item needs their content; whole bodies stream
// from the store.
func (ss *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, opts *imap.FetchOptions) error {
	if err := ss.sync(); err != nil {
		return err
	}
	v := ss.sel
	pos := v.resolve(numSet, ss.saved)
	seen, err := ss.markSeen(pos, opts)
	if err != nil {
		return err
	}
	if headerOnly(opts) && len(pos) > 1 {
		return ss.fetchHeaders(w, pos, opts, seen)
	}
	for _, i := range pos {
		if err := ss.fetchOne(w, i, opts, seen[v.msgs[i].uid], nil); err != nil {
			return err
		}
	}
	return nil
}

// headerOnly reports a FETCH whose items need no more of a message than
// its header section: ENVELOPE, BODY[HEADER], BODY[HEADER.FIELDS ...],
// RFC822.HEADER, besides metadata.
func headerOnly(opts *imap.FetchOptions) bool {
	if opts.BodyStructure != nil || len(opts.BinarySection) > 0 || len(opts.BinarySectionSize) > 0 {
		return false
	}
	for _, sec := range opts.BodySection {
		if !headerSection(sec) {
			return false
		}
	}
	return opts.Envelope || len(opts.BodySection) > 0
}

// headerSection reports a body section taken from the message's header.
func headerSection(sec *imap.FetchItemBodySection) bool {
	return len(sec.Part) == 0 && sec.Specifier == imap.PartSpecifierHeader
}

// fetchHeaders answers a header-only FETCH of many messages from the
// store's header sections, read in batches rather than a message at a
// time. A message expunged meanwhile is left out, and the FETCH ends in
// NO (RFC 9051 §7.5.1).
func (ss *session) fetchHeaders(w *imapserver.FetchWriter, pos []int, opts *imap.FetchOptions, seen map[uint32]bool) error {
	v := ss.sel
	done := 0
	err := ss.srv.store.Headers(ss.ctx, ss.account, v.name, v.uidsAt(pos), func(uid uint32, h []byte) error {
		i, ok := v.index(uid)
		if !ok {
			return nil
		}
		done++
		return ss.fetchOne(w, i, opts, seen[uid], h)
	})
	if err != nil {
		var ierr *imap.Error
		if errors.As(err, &ierr) {
			return err
		}
		return ss.messageError(err)
	}
	if done < len(pos) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Some messages were expunged meanwhile"}
	}
	return nil
}

// markSeen sets \Seen on the messages whose content is fetched without
// PEEK (RFC 9051 §6.4.5 BODY[]), and returns those it changed: their
// FETCH carries FLAGS.
func (ss *session) markSeen(pos []int, opts *imap.FetchOptions) (map[uint32]bool, error) {
	v := ss.sel
	if v.readOnly || !fetchSetsSeen(opts) {
		return nil, nil
	}
	var uids []uint32
	for _, i := range pos {
		if !slices.Contains(v.msgs[i].flags, string(imap.FlagSeen)) {
			uids = append(uids, v.msgs[i].uid)
		}
	}
	if len(uids) == 0 {
		return nil, nil
	}
	if _, err := ss.srv.store.SetFlags(ss.ctx, ss.account, v.name, uids, FlagsAdd, []string{string(imap.FlagSeen)}); err != nil {
		return nil, ss.internal("setting \\Seen", err)
	}
	// The view's mod-sequence stays: another session's change made just
	// before this one has a lower one, and the next catch-up must still
	// take the flags as the store has them.
	seen := make(map[uint32]bool, len(uids))
	for _, uid := range uids {
		if i, ok := v.index(uid); ok {
			m := &v.msgs[i]
			m.flags = append(slices.Clip(m.flags), string(imap.FlagSeen))
			seen[uid] = true
		}
	}
	return seen, nil
}

func fetchSetsSeen(opts *imap.FetchOptions) bool {
	for _, s := range opts.BodySection {
		if !s.Peek {
			return true
		}
	}
	for _, s := range opts.BinarySection {
		if !s.Peek {
			return true
		}
	}
	return false
}

// fetchOne writes one message's FETCH response.
// header, when not nil, is its header section.
func (ss *session) fetchOne(w *imapserver.FetchWriter, i int, opts *imap.FetchOptions, seenNow bool, header []byte) error {
	m := ss.sel.msgs[i]
	rw := w.CreateMessage(uint32(i + 1))
	if opts.UID {
		rw.WriteUID(imap.UID(m.uid))
	}
	if opts.Flags || seenNow {
		rw.WriteFlags(toFlags(m.flags))
		delete(ss.sel.untold, m.uid)
	}
	if opts.InternalDate {
		rw.WriteInternalDate(time.Unix(m.date, 0).UTC())
	}
	if opts.RFC822Size {
		rw.WriteRFC822Size(m.size)
	}
	if err := ss.fetchContent(rw, m, opts, header); err != nil {
		rw.Close()
		return err
	}
	return rw.Close()
}

// fetchContent writes the items read from the message itself.
func (ss *session) fetchContent(rw *imapserver.FetchResponseWriter, m viewMsg, opts *imap.FetchOptions, header []byte) error {
	if opts.Envelope {
		if header == nil {
			var err error
			if header, err = ss.readHeader(m.uid); err != nil {
				return err
			}
		}
		rw.WriteEnvelope(envelope(header))
	}
	if opts.BodyStructure != nil {
		var bs imap.BodyStructure
		if err := ss.withMessage(m.uid, func(r io.Reader) error {
			bs = imapserver.ExtractBodyStructure(r)
			return nil
		}); err != nil {
			return err
		}
		rw.WriteBodyStructure(bs)
	}
	for _, sec := range opts.BodySection {
		if err := ss.fetchBodySection(rw, m, sec, header); err != nil {
			return err
		}
	}
	for _, sec := range opts.BinarySection {
		var b []byte
		if err := ss.withMessage(m.uid, func(r io.Reader) error {
			b = imapserver.ExtractBinarySection(r, sec)
			return nil
		}); err != nil {
			return err
		}
		if err := writeBytes(rw.WriteBinarySection(sec, int64(len(b))), b); err != nil {
			return err
		}
	}
	for _, sec := range opts.BinarySectionSize {
		var n uint32
		if err := ss.withMessage(m.uid, func(r io.Reader) error {
			n = imapserver.ExtractBinarySectionSize(r, sec)
			return nil
		}); err != nil {
			return err
		}
		rw.WriteBinarySectionSize(sec, n)
	}
	return nil
}

// fetchBodySection writes BODY[section]<partial>. The whole message and
// its text stream, header sections come from the store's header (the
// given one, when not nil); other sections go through the library's MIME
// walk.
func (ss *session) fetchBodySection(rw *imapserver.FetchResponseWriter, m viewMsg, sec *imap.FetchItemBodySection, header []byte) error {
	plain := len(sec.Part) == 0 && len(sec.HeaderFields) == 0 && len(sec.HeaderFieldsNot) == 0
	if plain && sec.Specifier == imap.PartSpecifierNone {
		return ss.streamSection(rw, m, sec, 0, m.size)
	}
	if len(sec.Part) == 0 && (sec.Specifier == imap.PartSpecifierHeader || sec.Specifier == imap.PartSpecifierText) && header == nil {
		var err error
		if header, err = ss.readHeader(m.uid); err != nil {
			return err
		}
	}
	switch {
	case plain && sec.Specifier == imap.PartSpecifierText:
		return ss.streamSection(rw, m, sec, int64(len(header)), m.size-int64(len(header)))
	case plain && sec.Specifier == imap.PartSpecifierHeader:
		b := partial(header, sec.Partial)
		return writeBytes(rw.WriteBodySection(sec, int64(len(b))), b)
	case len(sec.Part) == 0 && sec.Specifier == imap.PartSpecifierHeader:
		// HEADER.FIELDS and HEADER.FIELDS.NOT read the header alone.
		b := imapserver.ExtractBodySection(bytes.NewReader(header), sec)
		return writeBytes(rw.WriteBodySection(sec, int64(len(b))), b)
	}
	var b []byte
	if err := ss.withMessage(m.uid, func(r io.Reader) error {
		b = imapserver.ExtractBodySection(r, sec)
		return nil
	}); err != nil {
		return err
	}
	return writeBytes(rw.WriteBodySection(sec, int64(len(b))), b)
}

// streamSection copies length octets from offset of the message, cut by
// the section's partial range (RFC 9051 §6.4.5 <origin.octets>).
func (ss *session) streamSection(rw *imapserver.FetchResponseWriter, m viewMsg, sec *imap.FetchItemBodySection, offset, length int64) error {
	if p := sec.Partial; p != nil {
		start := min(p.Offset, length)
		offset += start
		length = min(length-start, p.Size)
	}
	length = max(length, 0)
	rc, err := ss.srv.store.OpenMessage(ss.ctx, ss.account, ss.sel.name, m.uid)
	if err != nil {
		return ss.messageError(err)
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
		return ss.internal("reading message", err)
	}
	wc := rw.WriteBodySection(sec, length)
	n, err := io.CopyN(wc, rc, length)
	if err != nil && n < length {
		// The literal's size is on the wire and no reply can follow it:
		// the connection is closed.
		wc.Close()
		ss.guard.Close()
		return fmt.Errorf("imapd: message %d shorter than its size: %w", m.uid, err)
	}
	return wc.Close()
}

// readHeader returns a message's header section, up to and with the
// blank line, from the store.
func (ss *session) readHeader(uid uint32) ([]byte, error) {
	var raw []byte
	err := ss.srv.store.Headers(ss.ctx, ss.account, ss.sel.name, []uint32{uid}, func(_ uint32, h []byte) error {
		raw = bytes.Clone(h)
		return nil
	})
	if err != nil {
		return nil, ss.messageError(err)
	}
	if raw == nil {
		return nil, ss.messageError(ErrNotFound)
	}
	return raw, nil
}

// parseHeader parses a header section; what does not parse is left out.
func parseHeader(raw []byte) textproto.Header {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	return h
}

// withMessage opens a message for f.
func (ss *session) withMessage(uid uint32, f func(io.Reader) error) error {
	rc, err := ss.srv.store.OpenMessage(ss.ctx, ss.account, ss.sel.name, uid)
	if err != nil {
		return ss.messageError(err)
	}
	defer rc.Close()
	return f(rc)
}

// messageError answers a message the store no longer has: another
// session expunged it (RFC 9051 §7.5.1 lets the FETCH fail with NO).
func (ss *session) messageError(err error) error {
	if errors.Is(err, ErrNotFound) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Some messages were expunged meanwhile"}
	}
	return ss.internal("opening message", err)
}

func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return nil
	}
	return b[p.Offset:min(int64(len(b)), p.Offset+p.Size)]
}

func writeBytes(wc io.WriteCloser, b []byte) error {
	if _, err := wc.Write(b); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}
