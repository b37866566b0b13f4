package imapd

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// view is a session's picture of its selected mailbox: message i has
// sequence number i+1 (RFC 9051 §2.3.1.2). It changes only when the
// session tells the client, so sequence numbers agree on both sides.
type view struct {
	name        string
	readOnly    bool
	uidValidity uint32
	msgs        []viewMsg
	// highest is the mailbox's HIGHESTMODSEQ when the view last caught up
	// with the store (RFC 7162): Changes above it are news.
	highest uint64
	// expunged holds UIDs gone from the store whose EXPUNGE waits for a
	// command that allows it (RFC 9051 §7.5.1), ascending.
	expunged []uint32
	// untold holds the UIDs whose new flags the client has not seen;
	// arrived the messages it has not been told EXISTS of, in UID order.
	untold  map[uint32]bool
	arrived []viewMsg
	watch   <-chan struct{}
	stop    func()
}

type viewMsg struct {
	uid    uint32
	modseq uint64
	flags  []string
	date   int64 // internal date, Unix seconds
	size   int64
}

func newViewMsg(m Message) viewMsg {
	return viewMsg{uid: m.UID, modseq: m.ModSeq, flags: m.Flags, date: m.InternalDate.Unix(), size: m.Size}
}

// index returns the position of uid in the view.
func (v *view) index(uid uint32) (int, bool) {
	i := sort.Search(len(v.msgs), func(i int) bool { return v.msgs[i].uid >= uid })
	return i, i < len(v.msgs) && v.msgs[i].uid == uid
}

func (v *view) lastUID() uint32 {
	if len(v.msgs) == 0 {
		return 0
	}
	return v.msgs[len(v.msgs)-1].uid
}

// bounds is a range of a sequence set with "*" (0) standing for star, the
// last number in use, lowest first (RFC 9051 §9: "2:4" and "4:2" are the
// same).
func bounds(start, stop, star uint32) (uint32, uint32) {
	if start == 0 {
		start = star
	}
	if stop == 0 {
		stop = star
	}
	return min(start, stop), max(start, stop)
}

// resolve returns the positions of the messages of set, ascending; saved
// is the SEARCHRES result for "$" (RFC 5182).
func (v *view) resolve(set imap.NumSet, saved []uint32) []int {
	var out []int
	n := uint32(len(v.msgs))
	switch set := set.(type) {
	case imap.SeqSet:
		for _, r := range set {
			start, stop := bounds(r.Start, r.Stop, n)
			for s := max(start, 1); s <= min(stop, n); s++ {
				out = append(out, int(s-1))
			}
		}
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			for _, uid := range saved {
				if i, ok := v.index(uid); ok {
					out = append(out, i)
				}
			}
			break
		}
		last := v.lastUID()
		for _, r := range set {
			// RFC 9051 §6.4.8: "*" is the largest UID in use, and n:*
			// includes it even when n is larger.
			start, stop := bounds(uint32(r.Start), uint32(r.Stop), last)
			i, _ := v.index(start)
			for ; i < len(v.msgs) && v.msgs[i].uid <= stop; i++ {
				out = append(out, i)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// uidsAt returns the UIDs of positions.
func (v *view) uidsAt(pos []int) []uint32 {
	uids := make([]uint32, len(pos))
	for k, i := range pos {
		uids[k] = v.msgs[i].uid
	}
	return uids
}

// systemFlags are the flags every mailbox takes (RFC 9051 §2.3.2).
var systemFlags = []string{string(imap.FlagAnswered), string(imap.FlagFlagged), string(imap.FlagDeleted),
	string(imap.FlagSeen), string(imap.FlagDraft)}

// Select is RFC 9051 §6.3.2 SELECT and §6.3.3 EXAMINE.
func (ss *session) Select(name string, opts *imap.SelectOptions) (*imap.SelectData, error) {
	ss.unselect()
	watch, stop, err := ss.srv.store.Watch(ss.account, name)
	if err != nil {
		return nil, ss.mailboxError("select", err)
	}
	v := &view{name: name, readOnly: opts.ReadOnly, watch: watch, stop: stop}
	msgs, highest, err := ss.srv.store.Index(ss.ctx, ss.account, name)
	if err != nil {
		stop()
		return nil, ss.mailboxError("select", err)
	}
	v.msgs = make([]viewMsg, len(msgs))
	for i, m := range msgs {
		v.msgs[i] = newViewMsg(m)
	}
	// The listing is the mailbox at highest: the expunges before it are
	// nobody's business here.
	v.highest = highest
	// Whatever changed after the listing has a higher mod-sequence.
	ch, err := ss.srv.store.Changes(ss.ctx, ss.account, name, v.highest)
	if err != nil {
		stop()
		return nil, ss.mailboxError("select", err)
	}
	v.uidValidity = ch.UIDValidity
	v.apply(ch)
	ss.sel = v
	return v.selectData(ch.UIDNext), nil
}

// apply takes changes into the view without telling the client: only
// before SELECT's responses.
func (v *view) apply(ch Changes) {
	v.msgs = slices.DeleteFunc(v.msgs, func(m viewMsg) bool {
		_, gone := slices.BinarySearch(ch.Expunged, m.uid)
		return gone
	})
	for _, m := range ch.Messages {
		if i, ok := v.index(m.UID); ok {
			v.msgs[i] = newViewMsg(m)
		} else if m.UID > v.lastUID() {
			v.msgs = append(v.msgs, newViewMsg(m))
		}
	}
	v.highest = max(v.highest, ch.HighestModSeq)
}

func (v *view) selectData(uidNext uint32) *imap.SelectData {
	flags := slices.Clone(systemFlags)
	var firstUnseen uint32
	for i, m := range v.msgs {
		for _, f := range m.flags {
			if !slices.Contains(flags, f) {
				flags = append(flags, f)
			}
		}
		if firstUnseen == 0 && !slices.Contains(m.flags, string(imap.FlagSeen)) {
			firstUnseen = uint32(i + 1)
		}
	}
	data := &imap.SelectData{
		Flags:             toFlags(flags),
		NumMessages:       uint32(len(v.msgs)),
		FirstUnseenSeqNum: firstUnseen,
		UIDNext:           imap.UID(uidNext),
		UIDValidity:       v.uidValidity,
		HighestModSeq:     v.highest,
	}
	if !v.readOnly {
		// Keywords may be made at will (RFC 9051 §7.1: \*).
		data.PermanentFlags = append(toFlags(flags), imap.FlagWildcard)
	}
	return data
}

func toFlags(fs []string) []imap.Flag {
	out := make([]imap.Flag, len(fs))
	for i, f := range fs {
		out[i] = imap.Flag(f)
	}
	return out
}

// Unselect is RFC 3691 UNSELECT, and the end of CLOSE.
func (ss *session) Unselect() error {
	ss.unselect()
	return nil
}

func (ss *session) unselect() {
	if ss.sel != nil {
		ss.sel.stop()
		ss.sel = nil
	}
	ss.saved = nil
}

// Poll reports what other sessions and deliveries changed, when the
// store's watch says something may have (RFC 9051 §7: unilateral
// responses after a command).
func (ss *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	ss.idleMu.Lock()
	defer ss.idleMu.Unlock()
	v := ss.sel
	if v == nil {
		return nil
	}
	select {
	case <-v.watch:
		if err := ss.catchUp(); err != nil {
			return err
		}
	default:
	}
	return v.tell(w, allowExpunge)
}

// Idle is RFC 2177 IDLE: changes are reported as the watch announces
// them, until stop.
func (ss *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	// work refreshes the view under idleMu, unless the session has been
	// closed or has left the mailbox meanwhile (see idleMu).
	work := func(v *view) (bool, error) {
		ss.idleMu.Lock()
		defer ss.idleMu.Unlock()
		if ss.closed || ss.sel != v {
			return false, nil
		}
		return true, ss.refresh(w)
	}
	ss.idleMu.Lock()
	v := ss.sel
	ss.idleMu.Unlock()
	if v == nil {
		<-stop
		return nil
	}
	if ok, err := work(v); !ok || err != nil {
		return err
	}
	for {
		select {
		case <-stop:
			return nil
		case <-v.watch:
			if ok, err := work(v); !ok || err != nil {
				return err
			}
		}
	}
}

// refresh catches up with the store and tells the client all.
func (ss *session) refresh(w *imapserver.UpdateWriter) error {
	if err := ss.catchUp(); err != nil {
		return err
	}
	return ss.sel.tell(w, true)
}

// sync brings the view up to date before FETCH, STORE and SEARCH, so
// that they answer with the flags as they are: flag changes and new
// messages may be taken at any time, expunges wait (RFC 9051 §7.5.1).
// What the command itself does not show the client, Poll tells after it.
func (ss *session) sync() error {
	select {
	case <-ss.sel.watch:
		return ss.catchUp()
	default:
		return nil
	}
}

// catchUp asks the store for the changes above the view's mod-sequence
// and takes them into the view, to be told: flags at once, expunges and
// new messages kept apart until the client hears of them.
func (ss *session) catchUp() error {
	v := ss.sel
	ch, err := ss.srv.store.Changes(ss.ctx, ss.account, v.name, v.highest)
	if errors.Is(err, ErrNotFound) || err == nil && ch.UIDValidity != v.uidValidity {
		// RFC 9051 §2.3.1.1: the UIDs are no longer valid.
		ss.conn.Bye("Selected mailbox was deleted or renamed")
		return errors.New("imapd: selected mailbox vanished")
	}
	if err != nil {
		return ss.internal("changes", err)
	}
	for _, uid := range ch.Expunged {
		if _, ok := v.index(uid); ok {
			v.expunged = append(v.expunged, uid)
		}
	}
	// A message gone before the client heard of it is never told.
	v.arrived = slices.DeleteFunc(v.arrived, func(m viewMsg) bool {
		_, gone := slices.BinarySearch(ch.Expunged, m.uid)
		return gone
	})
	slices.Sort(v.expunged)
	v.expunged = slices.Compact(v.expunged)
	for _, m := range ch.Messages {
		i, ok := v.index(m.UID)
		switch {
		case ok && m.ModSeq > v.msgs[i].modseq:
			v.msgs[i].modseq, v.msgs[i].flags = m.ModSeq, m.Flags
			if v.untold == nil {
				v.untold = make(map[uint32]bool)
			}
			v.untold[m.UID] = true
		case !ok && m.UID > v.lastUID():
			k, found := slices.BinarySearchFunc(v.arrived, m.UID, func(a viewMsg, uid uint32) int { return cmp.Compare(a.uid, uid) })
			if found {
				v.arrived[k] = newViewMsg(m)
			} else {
				v.arrived = slices.Insert(v.arrived, k, newViewMsg(m))
			}
		}
	}
	v.highest = max(v.highest, ch.HighestModSeq)
	return nil
}

// tell writes what the client has not heard: EXPUNGE when allowed, FETCH
// FLAGS, then EXISTS.
func (v *view) tell(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if allowExpunge && len(v.expunged) > 0 {
		if err := v.writeExpunges(v.expunged, w.WriteExpunge); err != nil {
			return err
		}
		v.expunged = v.expunged[:0]
	}
	if len(v.untold) > 0 {
		uids := slices.Sorted(maps.Keys(v.untold))
		clear(v.untold)
		for _, uid := range uids {
			if i, ok := v.index(uid); ok {
				if err := w.WriteMessageFlags(uint32(i+1), imap.UID(uid), toFlags(v.msgs[i].flags)); err != nil {
					return err
				}
			}
		}
	}
	if len(v.arrived) > 0 {
		v.msgs = append(v.msgs, v.arrived...)
		v.arrived = v.arrived[:0]
		return w.WriteNumMessages(uint32(len(v.msgs)))
	}
	return nil
}

// writeExpunges removes uids from the view, writing an EXPUNGE for each
// from the highest sequence number down, so that each number is right
// when the client reads it (RFC 9051 §7.5.1).
func (v *view) writeExpunges(uids []uint32, write func(seq uint32) error) error {
	var pos []int
	for _, uid := range uids {
		if i, ok := v.index(uid); ok {
			pos = append(pos, i)
		}
	}
	slices.Sort(pos)
	var err error
	for k := len(pos) - 1; k >= 0 && err == nil; k-- {
		err = write(uint32(pos[k] + 1))
	}
	gone := make(map[uint32]bool, len(pos))
	for _, i := range pos {
		gone[v.msgs[i].uid] = true
	}
	v.msgs = slices.DeleteFunc(v.msgs, func(m viewMsg) bool { return gone[m.uid] })
	return err
}

// readOnlyError answers a change in a mailbox opened with EXAMINE.
var readOnlyError = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
	Text: "Mailbox is read-only (EXAMINE)"}

// Expunge is RFC 9051 §6.4.3 EXPUNGE, UID EXPUNGE (RFC 4315 §2.1) and
// CLOSE's silent expunge (w writes nothing then).
func (ss *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	// The store is reached by name: a mailbox renamed or deleted and
	// made again under it is caught (BYE) before anything is removed.
	if err := ss.sync(); err != nil {
		return err
	}
	v := ss.sel
	if v.readOnly {
		if uids == nil {
			// CLOSE after EXAMINE expunges nothing (RFC 9051 §6.4.1); the
			// library calls EXPUNGE the same way, and it does nothing too.
			return nil
		}
		return readOnlyError
	}
	var target []uint32
	if uids != nil {
		target = v.uidsAt(v.resolve(*uids, ss.saved))
		if len(target) == 0 {
			return nil
		}
	}
	removed, err := ss.srv.store.Expunge(ss.ctx, ss.account, v.name, target)
	if err != nil {
		return ss.internal("expunge", err)
	}
	return v.writeExpunges(removed, w.WriteExpunge)
}
