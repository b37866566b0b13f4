package imapd

import (
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Store is RFC 9051 §6.4.6 STORE and UID STORE: FLAGS, +FLAGS, -FLAGS,
// with .SILENT.
func (ss *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, sf *imap.StoreFlags, _ *imap.StoreOptions) error {
	if err := ss.sync(); err != nil {
		return err
	}
	v := ss.sel
	if v.readOnly {
		return readOnlyError
	}
	flags, err := storeFlags(sf.Flags)
	if err != nil {
		return err
	}
	pos := v.resolve(numSet, ss.saved)
	if len(pos) == 0 {
		return nil
	}
	op := map[imap.StoreFlagsOp]FlagOp{imap.StoreFlagsSet: FlagsReplace,
		imap.StoreFlagsAdd: FlagsAdd, imap.StoreFlagsDel: FlagsRemove}[sf.Op]
	if _, err := ss.srv.store.SetFlags(ss.ctx, ss.account, v.name, v.uidsAt(pos), op, flags); err != nil {
		return ss.internal("store", err)
	}
	// The flags as they are now, ours and any other session's changes;
	// what this reply does not show, Poll tells after it.
	if err := ss.catchUp(); err != nil {
		return err
	}
	for _, i := range pos {
		uid := v.msgs[i].uid
		// RFC 9051 §6.4.6: the flags of every message named, changed or
		// not, unless .SILENT.
		if !sf.Silent {
			if err := writeFlags(w, i, v.msgs[i]); err != nil {
				return err
			}
		}
		delete(v.untold, uid)
	}
	return nil
}

// writeFlags writes the FETCH UID FLAGS of the message at position i.
func writeFlags(w *imapserver.FetchWriter, i int, m viewMsg) error {
	rw := w.CreateMessage(uint32(i + 1))
	rw.WriteUID(imap.UID(m.uid))
	rw.WriteFlags(toFlags(m.flags))
	return rw.Close()
}

// storeFlags checks the flags a client sets: \Recent is the server's
// (RFC 9051 §2.3.2), and keywords are atoms.
func storeFlags(fs []imap.Flag) ([]string, error) {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		s := string(f)
		if strings.EqualFold(s, `\Recent`) {
			return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: `\Recent cannot be set`}
		}
		if strings.HasPrefix(s, `\`) {
			ok := false
			for _, sys := range systemFlags {
				if strings.EqualFold(s, sys) {
					s, ok = sys, true
				}
			}
			if !ok {
				return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Unknown system flag " + s}
			}
		}
		if !strings.HasPrefix(s, `\`) && (len(s) > 255 || strings.ContainsFunc(s, notAtomChar)) {
			// RFC 9051 §9: a keyword is an atom (the store keeps 255 octets).
			return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Invalid keyword " + strconv.Quote(s)}
		}
		out = append(out, s)
	}
	return out, nil
}

// Copy is RFC 9051 §6.4.7 COPY and UID COPY, with COPYUID (RFC 4315).
func (ss *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if err := ss.sync(); err != nil { // as Expunge: the source is named
		return nil, err
	}
	v := ss.sel
	pos := v.resolve(numSet, ss.saved)
	if len(pos) == 0 {
		return nil, nil
	}
	res, err := ss.srv.store.Copy(ss.ctx, ss.account, v.name, v.uidsAt(pos), dest)
	if err != nil {
		return nil, ss.destError("copy", err)
	}
	return copyData(res), nil
}

// Move is RFC 6851 MOVE and UID MOVE: COPYUID, then the EXPUNGEs.
func (ss *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if err := ss.sync(); err != nil { // as Expunge: the source is named
		return err
	}
	v := ss.sel
	if v.readOnly {
		return readOnlyError
	}
	pos := v.resolve(numSet, ss.saved)
	if len(pos) == 0 {
		return nil
	}
	res, err := ss.srv.store.Move(ss.ctx, ss.account, v.name, v.uidsAt(pos), dest)
	if err != nil {
		return ss.destError("move", err)
	}
	if data := copyData(res); data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	return v.writeExpunges(res.Source, w.WriteExpunge)
}

func copyData(res CopyResult) *imap.CopyData {
	if len(res.Source) == 0 {
		return nil
	}
	data := &imap.CopyData{UIDValidity: res.UIDValidity}
	for k := range res.Source {
		data.SourceUIDs.AddNum(imap.UID(res.Source[k]))
		data.DestUIDs.AddNum(imap.UID(res.Dest[k]))
	}
	return data
}

// destError maps an error about a destination mailbox: a missing one is
// TRYCREATE (RFC 9051 §6.4.7, §6.3.12).
func (ss *session) destError(what string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	case errors.Is(err, ErrInvalid):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name"}
	}
	return ss.internal(what, err)
}

// Append is RFC 9051 §6.3.12 APPEND with APPENDUID (RFC 4315). The
// library refused a literal over AppendLimit with [TOOBIG] before it.
func (ss *session) Append(mailbox string, r imap.LiteralReader, opts *imap.AppendOptions) (*imap.AppendData, error) {
	if r.Size() > ss.srv.cfg.AppendLimit {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	}
	flags, err := storeFlags(opts.Flags)
	if err != nil {
		return nil, err
	}
	lit := &exactReader{r: r, left: r.Size()}
	validity, uid, err := ss.srv.store.Append(ss.ctx, ss.account, mailbox, lit, flags, opts.Time)
	if errors.Is(err, io.ErrUnexpectedEOF) && lit.left > 0 {
		ss.srv.cfg.Debug.Info("imapd: append cut short", "client", ss.guard.name, "missing", lit.left)
		return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Message cut short"}
	}
	if err != nil {
		return nil, ss.destError("append", err)
	}
	ss.srv.cfg.Debug.Debug("imapd: append", "user", ss.account, "mailbox", mailbox, "uid", uid, "size", r.Size())
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: validity}, nil
}

// notAtomChar reports a character an atom cannot hold (RFC 9051 §9:
// atom-specials, 8-bit characters).
func notAtomChar(r rune) bool {
	return r <= ' ' || r >= 0x7f || strings.ContainsRune(`(){%*"\]`, r)
}

// exactReader reads a literal of a known size and fails with
// io.ErrUnexpectedEOF when the input ends before it: a client that hangs
// up halfway through an APPEND must not get half a message stored (RFC
// 9051 §4.3: a literal is exactly its announced number of octets).
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n, err := e.r.Read(p[:min(int64(len(p)), e.left)])
	e.left -= int64(n)
	switch {
	case e.left > 0 && errors.Is(err, io.EOF):
		return n, io.ErrUnexpectedEOF
	case e.left == 0 && err == nil:
		err = io.EOF
	}
	return n, err
}
