package imapd

import (
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// delim is the hierarchy separator (RFC 9051 §5.1.1).
const delim = '/'

// mailboxError maps a store error on a mailbox name to its response
// (RFC 5530 codes).
func (ss *session) mailboxError(what string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	case errors.Is(err, ErrExists):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	case errors.Is(err, ErrInvalid):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name"}
	}
	return ss.internal(what, err)
}

// trimName drops the trailing separator a client may add to a new name
// (RFC 9051 §6.3.4); a name left empty is refused.
func trimName(name string) (string, error) {
	name = strings.TrimSuffix(name, string(delim))
	if name == "" {
		return "", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name"}
	}
	return name, nil
}

// Create is RFC 9051 §6.3.4 CREATE; the superiors of a/b/c are made
// too, as the RFC advises.
func (ss *session) Create(name string, _ *imap.CreateOptions) error {
	name, err := trimName(name)
	if err != nil {
		return err
	}
	if err := ss.srv.store.CreateMailbox(ss.ctx, ss.account, name); err != nil {
		return ss.mailboxError("create", err)
	}
	return ss.createSuperiors(name)
}

// createSuperiors makes the missing parents of name.
func (ss *session) createSuperiors(name string) error {
	for i, c := range name {
		if c != delim {
			continue
		}
		err := ss.srv.store.CreateMailbox(ss.ctx, ss.account, name[:i])
		if err != nil && !errors.Is(err, ErrExists) {
			return ss.mailboxError("create", err)
		}
	}
	return nil
}

// Delete is RFC 9051 §6.3.5 DELETE: the mailbox and its messages; its
// children stay, and its name remains as their \NonExistent parent.
func (ss *session) Delete(name string) error {
	if err := ss.srv.store.DeleteMailbox(ss.ctx, ss.account, name); err != nil {
		return ss.mailboxError("delete", err)
	}
	return nil
}

// Rename is RFC 9051 §6.3.6 RENAME, with the children; renaming INBOX
// moves its messages.
func (ss *session) Rename(from, to string, _ *imap.RenameOptions) error {
	to, err := trimName(to)
	if err != nil {
		return err
	}
	if err := ss.srv.store.RenameMailbox(ss.ctx, ss.account, from, to); err != nil {
		return ss.mailboxError("rename", err)
	}
	return ss.createSuperiors(to)
}

// Subscribe is RFC 9051 §6.3.7 SUBSCRIBE.
func (ss *session) Subscribe(name string) error {
	if err := ss.srv.store.Subscribe(ss.ctx, ss.account, name, true); err != nil {
		return ss.mailboxError("subscribe", err)
	}
	return nil
}

// Unsubscribe is RFC 9051 §6.3.8 UNSUBSCRIBE.
func (ss *session) Unsubscribe(name string) error {
	if err := ss.srv.store.Subscribe(ss.ctx, ss.account, name, false); err != nil {
		return ss.mailboxError("unsubscribe", err)
	}
	return nil
}

// listEntry is a name in the hierarchy: a mailbox, or the parent of one
// that does not exist itself.
type listEntry struct {
	box        Mailbox
	exists     bool
	children   bool
	subChild   bool // a descendant is subscribed (RFC 5258 CHILDINFO)
	subscribed bool
}

// hierarchy returns the account's names in order, with the missing
// parents of "a/b" when there is no "a".
func hierarchy(boxes []Mailbox) []*listEntry {
	byName := make(map[string]*listEntry, len(boxes))
	var out []*listEntry
	for _, b := range boxes {
		e := &listEntry{box: b, exists: true, subscribed: b.Subscribed}
		byName[b.Name] = e
		out = append(out, e)
	}
	for _, b := range boxes {
		for i := len(b.Name) - 1; i > 0; i-- {
			if b.Name[i] != delim {
				continue
			}
			parent := b.Name[:i]
			p := byName[parent]
			if p == nil {
				p = &listEntry{box: Mailbox{Name: parent}}
				byName[parent] = p
				out = append(out, p)
			}
			p.children = true
			if b.Subscribed {
				p.subChild = true
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *listEntry) int {
		switch {
		case a.box.Name == "INBOX":
			return -1
		case b.box.Name == "INBOX":
			return 1
		}
		return strings.Compare(a.box.Name, b.box.Name)
	})
	return out
}

// List is RFC 9051 §6.3.9 LIST with RFC 5258's selection and return
// options, RFC 6154's attributes and RFC 5819's STATUS; LSUB comes here
// with SelectSubscribed.
func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, opts *imap.ListOptions) error {
	if len(patterns) == 0 {
		// RFC 9051 §6.3.9: an empty pattern asks for the separator.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	boxes, err := ss.srv.store.Mailboxes(ss.ctx, ss.account)
	if err != nil {
		return ss.internal("list", err)
	}
	// The guard read the command on this goroutine: LSUB and LIST
	// (SUBSCRIBED) reach here with the same options.
	lsub := ss.guard.cmd == "LSUB"
	for _, e := range hierarchy(boxes) {
		if !matchAny(e.box.Name, ref, patterns) {
			continue
		}
		data, ok := listData(e, opts)
		if !ok && lsub && subscribedBelow(e.box.Name, boxes, ref, patterns) {
			// RFC 3501 §6.3.9: "%" stopped at a level above a subscribed
			// mailbox that the pattern does not reach: the level is
			// listed, \Noselect.
			data, ok = &imap.ListData{Mailbox: e.box.Name, Delim: delim,
				Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}}, true
		}
		if !ok {
			continue
		}
		if opts.ReturnStatus != nil && e.exists {
			if data.Status, err = ss.status(e.box.Name, opts.ReturnStatus); err != nil {
				return err
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// subscribedBelow reports a subscribed mailbox under name that the
// patterns do not match themselves.
func subscribedBelow(name string, boxes []Mailbox, ref string, patterns []string) bool {
	for _, b := range boxes {
		if b.Subscribed && strings.HasPrefix(b.Name, name+string(delim)) && !matchAny(b.Name, ref, patterns) {
			return true
		}
	}
	return false
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		// INBOX is case-insensitive (RFC 9051 §5.1).
		if imapserver.MatchList(name, delim, ref, p) ||
			name == "INBOX" && ref == "" && strings.EqualFold(p, "INBOX") {
			return true
		}
	}
	return false
}

// listData is the LIST response for an entry; false when the selection
// options leave it out.
func listData(e *listEntry, opts *imap.ListOptions) (*imap.ListData, bool) {
	data := &imap.ListData{Mailbox: e.box.Name, Delim: delim}
	switch {
	case opts.SelectSubscribed && !e.subscribed && !(opts.SelectRecursiveMatch && e.subChild):
		return nil, false
	case opts.SelectSpecialUse && e.box.SpecialUse == "":
		return nil, false
	}
	if !e.exists {
		data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent, imap.MailboxAttrNoSelect)
	}
	if e.children {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
	} else {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
	}
	if e.subscribed && (opts.SelectSubscribed || opts.ReturnSubscribed) {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	if e.box.SpecialUse != "" {
		data.Attrs = append(data.Attrs, imap.MailboxAttr(e.box.SpecialUse))
	}
	if opts.SelectRecursiveMatch && e.subChild {
		data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
	}
	return data, true
}

// Status is RFC 9051 §6.3.11 STATUS, with SIZE (RFC 8438) and
// APPENDLIMIT (RFC 7889).
func (ss *session) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	return ss.status(name, opts)
}

func (ss *session) status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	mb, err := ss.srv.store.Mailbox(ss.ctx, ss.account, name)
	if err != nil {
		return nil, ss.mailboxError("status", err)
	}
	messages, unseen, deleted := uint32(mb.Messages), uint32(mb.Unseen), uint32(mb.Deleted)
	var recent uint32
	var deletedStorage int64
	limit := uint32(ss.srv.cfg.AppendLimit)
	return &imap.StatusData{
		Mailbox:        name,
		NumMessages:    &messages,
		NumRecent:      &recent,
		UIDNext:        imap.UID(mb.UIDNext),
		UIDValidity:    mb.UIDValidity,
		NumUnseen:      &unseen,
		NumDeleted:     &deleted,
		Size:           &mb.Size,
		AppendLimit:    &limit,
		DeletedStorage: &deletedStorage,
		HighestModSeq:  mb.HighestModSeq,
	}, nil
}
