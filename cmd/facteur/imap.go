package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"facteur/internal/imapd"
	"facteur/internal/store"
)

// startIMAP binds imap_listen and imaps_listen and serves IMAP on them
// until ctx is done, in goroutines of wg. Nothing is started when both are
// empty.
func (s *server) startIMAP(ctx context.Context, wg *sync.WaitGroup) error {
	cfg := s.cfg
	lns, err := bindParams(cfg, "imap_listen", "imaps_listen")
	if err != nil {
		return err
	}
	if len(lns[0])+len(lns[1]) == 0 {
		return nil
	}
	srv := imapd.NewServer(imapd.Config{
		Hostname:              cfg.Get("myhostname"),
		TLS:                   s.certs.Config(),
		PlaintextLoopbackOnly: cfg.Bool("disable_plaintext_auth"),
		AppendLimit:           cfg.Int("message_size_limit"),
		Failures:              s.logins,
		FailureDelay:          cfg.Duration("smtpd_auth_failure_delay"),
		Log:                   s.log,
		Debug:                 s.debug,
	}, imapStore{s.st})
	s.serveAccess(ctx, wg, "IMAP", lns[0], lns[1], srv, imapd.ErrServerClosed)
	return nil
}

// imapStore is the store as imapd sees it: the same methods, with
// imapd's types and errors.
type imapStore struct{ st *store.Store }

// imapErr maps the store's errors onto imapd's, keeping the original.
func imapErr(err error) error {
	for _, m := range []struct{ from, to error }{
		{store.ErrNotFound, imapd.ErrNotFound},
		{store.ErrExists, imapd.ErrExists},
		{store.ErrInvalid, imapd.ErrInvalid},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}

// Authenticate checks the password; the store keeps account names in
// lower case.
func (m imapStore) Authenticate(ctx context.Context, user, password string) (string, bool, error) {
	ok, err := m.st.Authenticate(ctx, user, password)
	return strings.ToLower(user), ok, err
}

func (m imapStore) Mailboxes(ctx context.Context, account string) ([]imapd.Mailbox, error) {
	bs, err := m.st.Mailboxes(ctx, account)
	out := make([]imapd.Mailbox, len(bs))
	for i, b := range bs {
		out[i] = imapd.Mailbox(b)
	}
	return out, imapErr(err)
}

func (m imapStore) Mailbox(ctx context.Context, account, name string) (imapd.Mailbox, error) {
	b, err := m.st.Mailbox(ctx, account, name)
	return imapd.Mailbox(b), imapErr(err)
}

func (m imapStore) CreateMailbox(ctx context.Context, account, name string) error {
	return imapErr(m.st.CreateMailbox(ctx, account, name))
}

func (m imapStore) DeleteMailbox(ctx context.Context, account, name string) error {
	return imapErr(m.st.DeleteMailbox(ctx, account, name))
}

func (m imapStore) RenameMailbox(ctx context.Context, account, from, to string) error {
	return imapErr(m.st.RenameMailbox(ctx, account, from, to))
}

func (m imapStore) Subscribe(ctx context.Context, account, name string, on bool) error {
	return imapErr(m.st.Subscribe(ctx, account, name, on))
}

func imapMessages(ms []store.MessageInfo) []imapd.Message {
	out := make([]imapd.Message, len(ms))
	for i, mi := range ms {
		out[i] = imapd.Message(mi)
	}
	return out
}

func (m imapStore) Messages(ctx context.Context, account, mailbox string) ([]imapd.Message, error) {
	ms, err := m.st.Messages(ctx, account, mailbox)
	return imapMessages(ms), imapErr(err)
}

func (m imapStore) Matching(ctx context.Context, account, mailbox, field, needle string) ([]imapd.Message, error) {
	ms, err := m.st.Matching(ctx, account, mailbox, field, needle)
	return imapMessages(ms), imapErr(err)
}

func (m imapStore) Index(ctx context.Context, account, mailbox string) ([]imapd.Message, uint64, error) {
	ms, highest, err := m.st.Index(ctx, account, mailbox)
	return imapMessages(ms), highest, imapErr(err)
}

func (m imapStore) OpenMessage(ctx context.Context, account, mailbox string, uid uint32) (io.ReadCloser, error) {
	rc, err := m.st.OpenMessage(ctx, account, mailbox, uid)
	return rc, imapErr(err)
}

func (m imapStore) Headers(ctx context.Context, account, mailbox string, uids []uint32, fn func(uint32, []byte) error) error {
	return imapErr(m.st.Headers(ctx, account, mailbox, uids, fn))
}

var imapFlagOps = map[imapd.FlagOp]store.FlagOp{
	imapd.FlagsReplace: store.FlagsReplace,
	imapd.FlagsAdd:     store.FlagsAdd,
	imapd.FlagsRemove:  store.FlagsRemove,
}

func (m imapStore) SetFlags(ctx context.Context, account, mailbox string, uids []uint32, op imapd.FlagOp, flags []string) (uint64, error) {
	modseq, err := m.st.SetFlags(ctx, account, mailbox, uids, imapFlagOps[op], flags)
	return modseq, imapErr(err)
}

func (m imapStore) Expunge(ctx context.Context, account, mailbox string, uids []uint32) ([]uint32, error) {
	removed, err := m.st.Expunge(ctx, account, mailbox, uids)
	return removed, imapErr(err)
}

func (m imapStore) Append(ctx context.Context, account, mailbox string, r io.Reader, flags []string, date time.Time) (uint32, uint32, error) {
	validity, uid, err := m.st.Append(ctx, account, mailbox, r, flags, date)
	return validity, uid, imapErr(err)
}

func (m imapStore) Copy(ctx context.Context, account, from string, uids []uint32, to string) (imapd.CopyResult, error) {
	res, err := m.st.Copy(ctx, account, from, uids, to)
	return imapd.CopyResult(res), imapErr(err)
}

func (m imapStore) Move(ctx context.Context, account, from string, uids []uint32, to string) (imapd.CopyResult, error) {
	res, err := m.st.Move(ctx, account, from, uids, to)
	return imapd.CopyResult(res), imapErr(err)
}

func (m imapStore) Changes(ctx context.Context, account, mailbox string, since uint64) (imapd.Changes, error) {
	c, err := m.st.Changes(ctx, account, mailbox, since)
	return imapd.Changes{Messages: imapMessages(c.Messages), Expunged: c.Expunged,
		HighestModSeq: c.HighestModSeq, UIDNext: c.UIDNext, UIDValidity: c.UIDValidity}, imapErr(err)
}

func (m imapStore) Watch(account, mailbox string) (<-chan struct{}, func(), error) {
	ch, stop, err := m.st.Watch(account, mailbox)
	return ch, stop, imapErr(err)
}
