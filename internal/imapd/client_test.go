package imapd

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestWithClient runs go-imap's own client against the server: an
// independent implementation of the wire protocol.
func TestWithClient(t *testing.T) {
	e := newEnv(t, Config{})
	e.add(t, "toto", "INBOX", msg("one", "first body\r\n"), msg("two", "second body\r\n"))
	e.add(t, "titi", "INBOX", msg("secret", "titi's mail\r\n"))

	exists := make(chan uint32, 16)
	c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("toto", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.CapIMAP4rev2) || !c.Caps().Has(imap.CapMove) {
		t.Errorf("caps %v", c.Caps())
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 2 {
		t.Fatalf("SELECT = %+v, %v", sel, err)
	}

	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{
		UID: true, Envelope: true, RFC822Size: true, Flags: true,
		BodySection: []*imap.FetchItemBodySection{{}},
	}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("FETCH = %d, %v", len(msgs), err)
	}
	if msgs[0].Envelope.Subject != "one" || msgs[1].Envelope.From[0].Addr() != "alice@example.org" {
		t.Errorf("envelopes %+v %+v", msgs[0].Envelope, msgs[1].Envelope)
	}
	body := msgs[1].FindBodySection(&imap.FetchItemBodySection{})
	if string(body) != msg("two", "second body\r\n") || int64(len(body)) != msgs[1].RFC822Size {
		t.Errorf("body %q, size %d", body, msgs[1].RFC822Size)
	}

	// APPEND with flags, then find it.
	app := c.Append("INBOX", 5, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	app.Write([]byte("Hi!\r\n"))
	app.Close()
	ad, err := app.Wait()
	if err != nil || ad.UID != 3 {
		t.Fatalf("APPEND = %+v, %v", ad, err)
	}
	sd, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDraft}}, nil).Wait()
	if err != nil || len(sd.AllUIDs()) != 1 || sd.AllUIDs()[0] != 3 {
		t.Errorf("UID SEARCH DRAFT = %v, %v", sd, err)
	}

	// Another account's mail is nowhere.
	sd, err = c.Search(&imap.SearchCriteria{Text: []string{"titi"}}, nil).Wait()
	if err != nil || len(sd.AllSeqNums()) != 0 {
		t.Errorf("SEARCH TEXT titi = %v, %v", sd.AllSeqNums(), err)
	}

	// MOVE and COPY answer COPYUID.
	md, err := c.Move(imap.UIDSetNum(1), "Archive").Wait()
	if err != nil || md.UIDValidity == 0 || md.DestUIDs.String() != "1" {
		t.Errorf("MOVE = %+v, %v", md, err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nothere").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("COPY to a missing mailbox: %v", err)
	}
	st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, Size: true}).Wait()
	if err != nil || *st.NumMessages != 1 || *st.Size == 0 {
		t.Errorf("STATUS = %+v, %v", st, err)
	}

	// IDLE hears of a delivery.
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	for len(exists) > 0 {
		<-exists
	}
	e.add(t, "toto", "INBOX", msg("three", "x"))
	select {
	case n := <-exists:
		if n != 3 {
			t.Errorf("EXISTS %d, want 3", n)
		}
	case <-time.After(30 * time.Second):
		t.Error("no EXISTS during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
}
