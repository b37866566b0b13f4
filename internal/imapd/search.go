package imapd

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// Bounds on a search program: the library's parser stops lists at 1000
// levels, but NOT and OR nest without parentheses.
const (
	maxSearchDepth = 64
	maxSearchKeys  = 1000
)

// cachedFields are the header fields the store keeps decoded in each
// message's metadata; other fields are read from the message.
var cachedFields = map[string]func(*Message) string{
	"subject": func(m *Message) string { return m.Subject },
	"from":    func(m *Message) string { return m.From },
	"to":      func(m *Message) string { return m.To },
}

// clipped is the length at which the store may have cut a cached field;
// a value that long is read again from the message.
const clipped = 990

// Search is RFC 9051 §6.4.4 SEARCH and UID SEARCH, with ESEARCH's MIN,
// MAX, COUNT and ALL (RFC 4731) and SAVE (RFC 5182). Flags, dates, sizes
// and UIDs come from the metadata; a message is read only for a key that
// needs its content, header first.
func (ss *session) Search(kind imapserver.NumKind, c *imap.SearchCriteria, opts *imap.SearchOptions) (*imap.SearchData, error) {
	if err := ss.sync(); err != nil {
		return nil, err
	}
	v := ss.sel
	if keys, depth := searchSize(c, 0); depth > maxSearchDepth || keys > maxSearchKeys {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit,
			Text: "Search program too large or too deeply nested"}
	}
	var infos []Message
	// only: every match is among infos (a key all matches need narrowed
	// them in the store), so the other messages need no test.
	only := false
	if field, needle, ok := prefilter(c); ok && !needsHeader(c) {
		var err error
		if infos, err = ss.srv.store.Matching(ss.ctx, ss.account, v.name, field, needle); err != nil {
			return nil, ss.internal("search", err)
		}
		only = true
	} else if needsInfo(c) {
		var err error
		if infos, err = ss.srv.store.Messages(ss.ctx, ss.account, v.name); err != nil {
			return nil, ss.internal("search", err)
		}
	}
	var found []int
	k := 0
	test := func(i int, header []byte) error {
		vm := v.msgs[i]
		cand := &candidate{ss: ss, seq: uint32(i + 1), vm: vm, last: v.lastUID(), n: uint32(len(v.msgs))}
		for k < len(infos) && infos[k].UID < vm.uid {
			k++
		}
		if k < len(infos) && infos[k].UID == vm.uid {
			cand.info = &infos[k]
		}
		if header != nil {
			cand.header, cand.hasHeader = parseHeader(header), true
		}
		ok, err := cand.match(c)
		if ok {
			found = append(found, i)
		}
		return err
	}
	if only {
		for _, m := range infos {
			if i, ok := v.index(m.UID); ok {
				if err := test(i, nil); err != nil {
					return nil, err
				}
			}
		}
		return ss.searchData(kind, found, opts), nil
	}
	if !needsHeader(c) {
		for i := range v.msgs {
			if err := test(i, nil); err != nil {
				return nil, err
			}
		}
		return ss.searchData(kind, found, opts), nil
	}
	// Header keys the cached fields cannot answer: the header sections
	// come in batches; a message the store no longer has matches nothing.
	err := ss.srv.store.Headers(ss.ctx, ss.account, v.name, nil, func(uid uint32, h []byte) error {
		if i, ok := v.index(uid); ok {
			return test(i, h)
		}
		return nil
	})
	if err != nil {
		var ierr *imap.Error
		if errors.As(err, &ierr) {
			return nil, err
		}
		return nil, ss.internal("search", err)
	}
	return ss.searchData(kind, found, opts), nil
}

// prefilter finds, among the keys that every match must satisfy (the
// program's top level is a conjunction), one on a cached field with an
// ASCII string, which the store can filter on: its field and string.
func prefilter(c *imap.SearchCriteria) (field, needle string, ok bool) {
	for _, h := range c.Header {
		f := strings.ToLower(h.Key)
		if _, cached := cachedFields[f]; cached && h.Value != "" && isASCII(h.Value) {
			return f, h.Value, true
		}
	}
	return "", "", false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// needsHeader reports a program with a header key that the cached fields
// do not answer, TEXT included.
func needsHeader(c *imap.SearchCriteria) bool {
	if len(c.Text) > 0 {
		return true
	}
	for _, h := range c.Header {
		if _, ok := cachedFields[strings.ToLower(h.Key)]; !ok {
			return true
		}
	}
	for i := range c.Not {
		if needsHeader(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if needsHeader(&c.Or[i][0]) || needsHeader(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

func (ss *session) searchData(kind imapserver.NumKind, found []int, opts *imap.SearchOptions) *imap.SearchData {
	v := ss.sel
	data := &imap.SearchData{Count: uint32(len(found))}
	num := func(i int) uint32 {
		if kind == imapserver.NumKindUID {
			return v.msgs[i].uid
		}
		return uint32(i + 1)
	}
	if len(found) > 0 {
		data.Min, data.Max = num(found[0]), num(found[len(found)-1])
	}
	if kind == imapserver.NumKindUID {
		var set imap.UIDSet
		for _, i := range found {
			set.AddNum(imap.UID(num(i)))
		}
		data.All = set
	} else {
		var set imap.SeqSet
		for _, i := range found {
			set.AddNum(num(i))
		}
		data.All = set
	}
	if opts.ReturnSave {
		ss.saved = v.uidsAt(found)
	}
	return data
}

// searchSize counts the keys of a program and its depth.
func searchSize(c *imap.SearchCriteria, depth int) (keys, maxDepth int) {
	keys = len(c.SeqNum) + len(c.UID) + len(c.Header) + len(c.Body) + len(c.Text) + len(c.Flag) + len(c.NotFlag) + 1
	maxDepth = depth
	if depth > maxSearchDepth {
		return keys, depth
	}
	for i := range c.Not {
		k, d := searchSize(&c.Not[i], depth+1)
		keys, maxDepth = keys+k, max(maxDepth, d)
	}
	for i := range c.Or {
		for j := range c.Or[i] {
			k, d := searchSize(&c.Or[i][j], depth+1)
			keys, maxDepth = keys+k, max(maxDepth, d)
		}
	}
	return keys, maxDepth
}

// needsInfo reports a program that reads cached header fields.
func needsInfo(c *imap.SearchCriteria) bool {
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for _, h := range c.Header {
		if _, ok := cachedFields[strings.ToLower(h.Key)]; ok {
			return true
		}
	}
	for i := range c.Not {
		if needsInfo(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if needsInfo(&c.Or[i][0]) || needsInfo(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// candidate is a message under test; its header and text are read once,
// when a key first needs them.
type candidate struct {
	ss   *session
	seq  uint32
	n    uint32 // messages in the view, for "*"
	last uint32 // the view's last UID, for "*"
	vm   viewMsg
	info *Message // nil: not in the store's listing (expunged) or not asked

	header    textproto.Header
	hasHeader bool
	text      string // lower-case decoded body text
	hasText   bool
	gone      bool // the store no longer has the message
}

// match evaluates the program: the keys of one level are ANDed, cheap
// ones first.
func (m *candidate) match(c *imap.SearchCriteria) (bool, error) {
	if !m.matchMeta(c) {
		return false, nil
	}
	for _, h := range c.Header {
		ok, err := m.matchHeader(h.Key, h.Value)
		if err != nil || !ok {
			return false, err
		}
	}
	for _, s := range c.Body {
		ok, err := m.matchBody(s)
		if err != nil || !ok {
			return false, err
		}
	}
	for _, s := range c.Text {
		ok, err := m.matchHeader("", s)
		if err == nil && !ok {
			ok, err = m.matchBody(s)
		}
		if err != nil || !ok {
			return false, err
		}
	}
	for i := range c.Not {
		ok, err := m.match(&c.Not[i])
		if err != nil || ok {
			return false, err
		}
	}
	for i := range c.Or {
		ok, err := m.match(&c.Or[i][0])
		if err == nil && !ok {
			ok, err = m.match(&c.Or[i][1])
		}
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// matchMeta checks the keys answered from metadata.
func (m *candidate) matchMeta(c *imap.SearchCriteria) bool {
	for _, set := range c.SeqNum {
		if !inSeqSet(set, m.seq, m.n) {
			return false
		}
	}
	for _, set := range c.UID {
		if !m.inUIDSet(set) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !hasFlag(m.vm.flags, string(f)) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(m.vm.flags, string(f)) {
			return false
		}
	}
	switch {
	case c.Larger > 0 && m.vm.size <= c.Larger,
		c.Smaller > 0 && m.vm.size >= c.Smaller:
		return false
	}
	// RFC 9051 §6.4.4: dates disregard time and time zone.
	internal := day(time.Unix(m.vm.date, 0).UTC())
	if !c.Since.IsZero() && internal.Before(day(c.Since)) ||
		!c.Before.IsZero() && !internal.Before(day(c.Before)) {
		return false
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		sent, ok := m.sentDate()
		if !ok || !c.SentSince.IsZero() && sent.Before(day(c.SentSince)) ||
			!c.SentBefore.IsZero() && !sent.Before(day(c.SentBefore)) {
			return false
		}
	}
	return true
}

// day is t's date at midnight UTC, in t's own time zone.
func day(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (m *candidate) sentDate() (time.Time, bool) {
	if m.info == nil {
		return time.Time{}, false
	}
	t, err := mail.ParseDate(m.info.Date)
	if err != nil {
		return time.Time{}, false
	}
	return day(t), true
}

func inSeqSet(set imap.SeqSet, seq, n uint32) bool {
	for _, r := range set {
		start, stop := bounds(r.Start, r.Stop, n)
		if seq >= start && seq <= stop {
			return true
		}
	}
	return false
}

func (m *candidate) inUIDSet(set imap.UIDSet) bool {
	if imap.IsSearchRes(set) {
		_, ok := slices.BinarySearch(m.ss.saved, m.vm.uid) // ascending (uidsAt)
		return ok
	}
	uid := m.vm.uid
	for _, r := range set {
		start, stop := bounds(uint32(r.Start), uint32(r.Stop), m.last)
		if uid >= start && uid <= stop {
			return true
		}
	}
	return false
}

// hasFlag compares flags without regard to case (RFC 9051 §2.3.2);
// \Recent is never set (IMAP4rev2 has none).
func hasFlag(flags []string, f string) bool {
	for _, g := range flags {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}

// contains is RFC 9051 §6.4.4's substring match, without regard to case.
func contains(hay, needle string) bool {
	return strings.Contains(strings.ToLower(hay), strings.ToLower(needle))
}

// matchHeader matches a field's decoded value; an empty key matches any
// field (for TEXT), an empty value any message with the field.
func (m *candidate) matchHeader(key, value string) (bool, error) {
	if get, ok := cachedFields[strings.ToLower(key)]; ok && m.info != nil {
		if v := get(m.info); len(v) < clipped {
			return v != "" && contains(v, value), nil
		}
	}
	if err := m.loadHeader(); err != nil || m.gone {
		return false, err
	}
	for f := m.header.Fields(); f.Next(); {
		if key != "" && !strings.EqualFold(f.Key(), key) {
			continue
		}
		v := decodeWords(f.Value())
		if key == "" {
			v = f.Key() + ": " + v
		}
		if contains(v, value) {
			return true, nil
		}
	}
	return false, nil
}

// wordDecoder decodes RFC 2047 words in any charset go-message knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

func decodeWords(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

func (m *candidate) loadHeader() error {
	if m.hasHeader {
		return nil
	}
	m.hasHeader = true
	raw, err := m.ss.readHeader(m.vm.uid)
	if err != nil {
		return m.openError(err)
	}
	m.header = parseHeader(raw)
	return nil
}

// openError makes a message expunged meanwhile a non-match.
func (m *candidate) openError(err error) error {
	var ierr *imap.Error
	if errors.As(err, &ierr) && ierr.Code == "" && ierr.Type == imap.StatusResponseTypeNo {
		m.gone = true
		return nil
	}
	return err
}

// matchBody matches the decoded text of the message's parts.
func (m *candidate) matchBody(s string) (bool, error) {
	if !m.hasText {
		m.hasText = true
		err := m.ss.withMessage(m.vm.uid, func(r io.Reader) error {
			m.text = strings.ToLower(bodyText(r))
			return nil
		})
		if err != nil {
			return false, m.openError(err)
		}
	}
	return strings.Contains(m.text, strings.ToLower(s)), nil
}

// bodyText returns the message's body with transfer encodings and
// charsets undone where they are known (importing go-message/charset
// makes go-message decode them), parts one after another; the raw
// body when it does not parse.
func bodyText(r io.Reader) string {
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		b, _ := io.ReadAll(br)
		return string(b)
	}
	e, err := message.New(message.Header{Header: h}, br)
	if err != nil && e == nil {
		b, _ := io.ReadAll(br)
		return string(b)
	}
	var sb strings.Builder
	e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil || part.MultipartReader() != nil {
			return nil
		}
		io.Copy(&sb, part.Body)
		sb.WriteByte('\n')
		return nil
	})
	return sb.String()
}
