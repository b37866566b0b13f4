package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"facteur/internal/pop3d"
	"facteur/internal/store"
)

// startPOP3 binds pop3_listen and pop3s_listen and serves POP3 on them
// until ctx is done, in goroutines of wg. Nothing is started when both are
// empty.
func (s *server) startPOP3(ctx context.Context, wg *sync.WaitGroup) error {
	cfg := s.cfg
	lns, err := bindParams(cfg, "pop3_listen", "pop3s_listen")
	if err != nil {
		return err
	}
	if len(lns[0])+len(lns[1]) == 0 {
		return nil
	}
	srv := pop3d.NewServer(pop3d.Config{
		Hostname:              cfg.Get("myhostname"),
		TLS:                   s.certs.Config(),
		PlaintextLoopbackOnly: cfg.Bool("disable_plaintext_auth"),
		Failures:              s.logins,
		FailureDelay:          cfg.Duration("smtpd_auth_failure_delay"),
		Log:                   s.log,
		Debug:                 s.debug,
	}, pop3Maildrops{s.st})
	s.serveAccess(ctx, wg, "POP3", lns[0], lns[1], srv, pop3d.ErrServerClosed)
	return nil
}

// pop3Maildrops is the store as pop3d sees it: each account's INBOX.
type pop3Maildrops struct{ st *store.Store }

// Authenticate checks the password; the store keeps account names in
// lower case, the name the maildrop is locked under.
func (m pop3Maildrops) Authenticate(ctx context.Context, user, password string) (string, bool, error) {
	ok, err := m.st.Authenticate(ctx, user, password)
	return strings.ToLower(user), ok, err
}

func (m pop3Maildrops) List(ctx context.Context, account string) (uint32, []pop3d.Message, error) {
	boxes, err := m.st.Mailboxes(ctx, account)
	if err != nil {
		return 0, nil, err
	}
	var validity uint32
	for _, b := range boxes {
		if b.Name == "INBOX" {
			validity = b.UIDValidity
		}
	}
	cs, err := m.st.Contents(ctx, account, "INBOX")
	if err != nil {
		return 0, nil, err
	}
	out := make([]pop3d.Message, len(cs))
	for i, c := range cs {
		out[i] = pop3d.Message{UID: c.UID, Size: c.Size, Ref: c}
	}
	return validity, out, nil
}

// Open opens the message from what List kept of it: no lookup per RETR.
func (m pop3Maildrops) Open(ctx context.Context, account string, msg pop3d.Message) (io.ReadCloser, error) {
	if c, ok := msg.Ref.(store.Content); ok {
		return m.st.OpenContent(c)
	}
	return m.st.OpenMessage(ctx, account, "INBOX", msg.UID)
}

// Delete flags the messages \Deleted and expunges them, as an IMAP client
// would; only the given UIDs are expunged.
func (m pop3Maildrops) Delete(ctx context.Context, account string, uids []uint32) error {
	if _, err := m.st.SetFlags(ctx, account, "INBOX", uids, store.FlagsAdd, []string{store.FlagDeleted}); err != nil {
		return fmt.Errorf("flagging deleted messages: %w", err)
	}
	if _, err := m.st.Expunge(ctx, account, "INBOX", uids); err != nil {
		return fmt.Errorf("expunging: %w", err)
	}
	return nil
}
