package imapd

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// step is one command and what its reply holds: each want is a prefix
// of one line of the reply, in order; the last is the tagged line.
type step struct {
	cmd  string
	want []string
}

func runSteps(t *testing.T, c *client, steps []step) {
	t.Helper()
	for _, s := range steps {
		got := c.cmd(s.cmd)
		k := 0
		for _, l := range got {
			if k < len(s.want) && strings.HasPrefix(l, s.want[k]) {
				k++
			}
		}
		if k < len(s.want) {
			t.Errorf("C: a %s\nS: %s\nwant lines starting %q", s.cmd, strings.Join(got, "\nS: "), s.want)
		}
	}
}

func TestDialogs(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"mailbox names that leave the account", []step{
			{"CREATE ../x", []string{"a NO [CANNOT]"}},
			{"CREATE /etc", []string{"a NO [CANNOT]"}},
			{"CREATE a/../../b", []string{"a NO [CANNOT]"}},
			{`CREATE "x\\y"`, []string{"a "}},
			{"CREATE INBOX", []string{"a NO [ALREADYEXISTS]"}},
			{"SELECT ../titi/INBOX", []string{"a NO"}},
			{"DELETE INBOX", []string{"a NO [CANNOT]"}},
			{"DELETE nothere", []string{"a NO [NONEXISTENT]"}},
		}},
		{"hierarchy", []step{
			{"CREATE a/b/c/", []string{"a OK"}},
			{`LIST "" a*`, []string{`* LIST (\HasChildren) "/" "a"`, `* LIST (\HasChildren) "/" "a/b"`, `* LIST (\HasNoChildren) "/" "a/b/c"`, "a OK"}},
			{"DELETE a/b", []string{"a OK"}},
			{`LIST "" a/%`, []string{`* LIST (\NonExistent \Noselect \HasChildren) "/" "a/b"`, "a OK"}},
			{"RENAME a z/y", []string{"a OK"}},
			{`LIST "" *`, []string{`* LIST (\HasNoChildren) "/" INBOX`, `* LIST (\HasNoChildren \Archive) "/" "Archive"`,
				`* LIST (\HasChildren) "/" "z"`, `* LIST (\HasChildren) "/" "z/y"`, `* LIST (\NonExistent \Noselect \HasChildren) "/" "z/y/b"`,
				`* LIST (\HasNoChildren) "/" "z/y/b/c"`, "a OK"}},
			{"RENAME nothere x", []string{"a NO [NONEXISTENT]"}},
			{"RENAME z Sent", []string{"a NO [ALREADYEXISTS]"}},
			{`LIST "" ""`, []string{`* LIST (\Noselect) "/" ""`, "a OK"}},
		}},
		{"list extended", []step{
			{"UNSUBSCRIBE Sent", []string{"a OK"}},
			{`LIST "" Sent RETURN (SUBSCRIBED)`, []string{`* LIST (\HasNoChildren \Sent) "/" "Sent"`, "a OK"}},
			{"SUBSCRIBE Sent", []string{"a OK"}},
			{`LIST (SUBSCRIBED) "" S*`, []string{`* LIST (\HasNoChildren \Subscribed \Sent) "/" "Sent"`, "a OK"}},
			{`LIST (SPECIAL-USE) "" * RETURN (STATUS (MESSAGES SIZE))`, []string{`* LIST (\HasNoChildren \Archive) "/" "Archive"`,
				`* STATUS "Archive" (MESSAGES 0 SIZE 0)`, "a OK"}},
			{`LSUB "" S*`, []string{`* LSUB (\HasNoChildren \Subscribed \Sent) "/" "Sent"`, "a OK"}},
			{"UNSUBSCRIBE Sent", []string{"a OK"}},
			{`LSUB "" S*`, []string{"a OK"}},
			// RFC 3501 §6.3.9: LSUB "%" lists the level above a subscribed
			// mailbox it does not reach, \Noselect; "*" and LIST
			// (SUBSCRIBED) do not.
			{"CREATE p/q/r", []string{"a OK"}},
			{"UNSUBSCRIBE p", []string{"a OK"}},
			{"UNSUBSCRIBE p/q", []string{"a OK"}},
			{`LSUB "" p%`, []string{`* LSUB (\Noselect) "/" "p"`, "a OK"}},
			{`LSUB "" p/*`, []string{`* LSUB (\HasNoChildren \Subscribed) "/" "p/q/r"`, "a OK"}},
			{`LIST (SUBSCRIBED) "" p%`, []string{"a OK"}},
			{"DELETE p", []string{"a OK"}},
			{`LSUB "" p%`, []string{`* LSUB (\Noselect) "/" "p"`, "a OK"}},
		}},
		{"status", []step{
			{"STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT APPENDLIMIT)",
				[]string{"* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY ", "a OK"}},
			{"STATUS nothere (MESSAGES)", []string{"a NO [NONEXISTENT]"}},
		}},
		{"select and fetch", []step{
			{"SELECT INBOX", []string{"* 3 EXISTS", "* OK [UIDVALIDITY ", "* OK [UIDNEXT 4]", "a OK [READ-WRITE]"}},
			{"FETCH 1 (UID FLAGS RFC822.SIZE)", []string{"* 1 FETCH (UID 1 FLAGS () RFC822.SIZE ", "a OK"}},
			{"FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])", []string{`* 1 FETCH (BODY[HEADER.FIELDS ("Subject")] {16}`, "Subject: one", "", ")", "a OK"}},
			{"FETCH 2 BODY[TEXT]", []string{"* 2 FETCH (", "a OK"}},
			{"FETCH 2 FLAGS", []string{`* 2 FETCH (FLAGS (\Seen))`, "a OK"}},
			{"FETCH 1 BODY.PEEK[]<0.4>", []string{"* 1 FETCH (BODY[]<0> {4}", "a OK"}},
			{"FETCH 1 FLAGS", []string{"* 1 FETCH (FLAGS ())", "a OK"}},
			{"FETCH 1 BINARY.SIZE[1]", []string{"* 1 FETCH (BINARY.SIZE[1] 8)", "a OK"}},
			{"UID FETCH 2:* (FLAGS)", []string{"* 2 FETCH (UID 2 FLAGS (\\Seen))", "a OK"}},
			{"UID FETCH 99:* (FLAGS)", []string{"* 3 FETCH (UID 3 ", "a OK"}},
			{"FETCH 1:2 (UID BODY.PEEK[HEADER.FIELDS (Subject)] ENVELOPE)", []string{`* 1 FETCH (UID 1 ENVELOPE ("Mon, 02 Jan 2006 15:04:05 +0000" "one" `, "Subject: one", "",
				`* 2 FETCH (UID 2 ENVELOPE ("Mon, 02 Jan 2006 15:04:05 +0000" "two" `, "Subject: two", "", "a OK"}},
			{"FETCH 1:2 RFC822.HEADER", []string{"* 1 FETCH (RFC822.HEADER {", "From: Alice", "* 2 FETCH (RFC822.HEADER {", "a OK"}},
			{"FETCH 1 (ENVELOPE)", []string{`* 1 FETCH (ENVELOPE ("Mon, 02 Jan 2006 15:04:05 +0000" "one" (("Alice" NIL "alice" "example.org"))`, "a OK"}},
		}},
		{"store", []step{
			{"SELECT INBOX", []string{"a OK"}},
			{`STORE 1 +FLAGS (\Flagged $Work)`, []string{`* 1 FETCH (UID 1 FLAGS ($Work \Flagged))`, "a OK"}},
			{`STORE 1:2 +FLAGS.SILENT (\Seen)`, []string{"a OK"}},
			{`STORE 1 -FLAGS ($Work)`, []string{`* 1 FETCH (UID 1 FLAGS (\Flagged \Seen))`, "a OK"}},
			{`STORE 1 FLAGS (\Recent)`, []string{"a BAD"}},
			{`UID STORE 2 FLAGS (\Deleted)`, []string{`* 2 FETCH (UID 2 FLAGS (\Deleted))`, "a OK"}},
			{"SEARCH DELETED", []string{"* SEARCH 2", "a OK"}},
			{"EXPUNGE", []string{"* 2 EXPUNGE", "a OK"}},
			{"SEARCH ALL", []string{"* SEARCH 1 2", "a OK"}},
		}},
		{"search keys", []step{
			{"SELECT INBOX", []string{"a OK"}},
			{"SEARCH SUBJECT ONE", []string{"* SEARCH 1", "a OK"}},
			{"SEARCH FROM alice", []string{"* SEARCH 1 2", "a OK"}},
			{"SEARCH HEADER Message-ID two@", []string{"* SEARCH 2", "a OK"}},
			{"SEARCH BODY WORLD", []string{"* SEARCH 2", "a OK"}},
			{"SEARCH TEXT subject", []string{"* SEARCH 1 2", "a OK"}},
			{"SEARCH OR SUBJECT one BODY world", []string{"* SEARCH 1 2", "a OK"}},
			{"SEARCH NOT SUBJECT one", []string{"* SEARCH 2 3", "a OK"}},
			{"SEARCH SENTON 2-Jan-2006", []string{"* SEARCH 1 2", "a OK"}},
			{"SEARCH SENTBEFORE 2-Jan-2006", []string{"* SEARCH", "a OK"}},
			{"SEARCH SINCE 1-Jan-2000 LARGER 10 SMALLER 100000", []string{"* SEARCH 1 2 3", "a OK"}},
			{"SEARCH BEFORE 1-Jan-2000", []string{"* SEARCH", "a OK"}},
			{"SEARCH UNSEEN NEW", []string{"* SEARCH", "a OK"}},
			{"SEARCH OLD 2:*", []string{"* SEARCH 2 3", "a OK"}},
			{"UID SEARCH UID 2", []string{"* SEARCH 2", "a OK"}},
			{"SEARCH RETURN (MIN MAX COUNT) ALL", []string{"* ESEARCH (TAG \"a\") MIN 1 MAX 3 COUNT 3", "a OK"}},
			{"SEARCH RETURN (SAVE) SUBJECT two", []string{"a OK"}},
			{"FETCH $ (UID)", []string{"* 2 FETCH (UID 2)", "a OK"}},
			{"SEARCH KEYWORD $Nothing", []string{"* SEARCH", "a OK"}},
			{"SEARCH CHARSET KOI8-R ALL", []string{"a NO [BADCHARSET]"}},
			{"SEARCH HEADER X-Encoded café", []string{"* SEARCH 3", "a OK"}},
		}},
		{"copy move append", []step{
			{"SELECT INBOX", []string{"a OK"}},
			{"COPY 1 Archive", []string{"a OK [COPYUID "}},
			{"COPY 1 nothere", []string{"a NO [TRYCREATE]"}},
			{"MOVE 2 Trash", []string{"* OK [COPYUID ", "* 2 EXPUNGE", "a OK"}},
			{"STATUS Trash (MESSAGES)", []string{`* STATUS "Trash" (MESSAGES 1)`, "a OK"}},
			{"APPEND nothere {3+}\r\nabc", []string{"a NO [TRYCREATE]"}},
			{"APPEND INBOX (\\Seen) \"14-Jul-2020 02:44:25 -0700\" {5+}\r\nhello", []string{"* 3 EXISTS", "a OK [APPENDUID "}},
			{"FETCH 3 (FLAGS INTERNALDATE)", []string{`* 3 FETCH (FLAGS (\Seen) INTERNALDATE "14-Jul-2020 09:44:25 +0000")`, "a OK"}},
			{"UNSELECT", []string{"a OK"}},
			{"EXAMINE INBOX", []string{"a OK [READ-ONLY]"}},
			{"STORE 1 +FLAGS (\\Deleted)", []string{"a NO"}},
			{"FETCH 1 BODY[]", []string{"* 1 FETCH (BODY[] {", "a OK"}},
			{"FETCH 1 FLAGS", []string{"* 1 FETCH (FLAGS ())", "a OK"}},
			{"CLOSE", []string{"a OK"}},
		}},
		{"bad input", []step{
			{"FETCH", []string{"a BAD"}},
			{"SELECT INBOX", []string{"a OK"}},
			{"FETCH 1 (FLAGS", []string{"a BAD"}},
			{"SEARCH (((((", []string{"a BAD"}},
			{"SEARCH " + strings.Repeat("NOT ", 200) + "ALL", []string{"a NO [LIMIT]"}},
			{"SEARCH " + strings.Repeat("(", 1200) + "ALL" + strings.Repeat(")", 1200), []string{"a NO"}},
			{"SEARCH " + strings.Repeat("OR ALL ", 500) + "ALL", []string{"a NO [LIMIT]"}},
			{"STORE 1 +FLAGS (\\Bogus)", []string{"a BAD"}},
			{"NOOP", []string{"a OK"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.add(t, "toto", "INBOX", msg("one", "hi there"),
				msg("two", "hello world")+"\r\n")
			// A header with an encoded word, for SEARCH HEADER.
			e.add(t, "titi", "INBOX", msg("other", "not toto's"))
			if _, _, err := e.st.Append(t.Context(), "toto", "INBOX", strings.NewReader("X-Encoded: =?utf-8?q?caf=C3=A9?=\r\n\r\nx"), nil, time.Time{}); err != nil {
				t.Fatal(err)
			}
			c := e.dial(t)
			c.login()
			runSteps(t, c, tt.steps)
		})
	}
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t, Config{PlaintextLoopbackOnly: true, TLS: testTLS(t)})
	// A client from loopback may log in in clear text.
	c := e.dial(t)
	runSteps(t, c, []step{{"CAPABILITY", []string{"* CAPABILITY IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ENABLE IDLE STARTTLS AUTH=PLAIN AUTH=LOGIN", "a OK"}}})
	c.login()
	runSteps(t, c, []step{{"CAPABILITY", []string{"* CAPABILITY IMAP4rev2 IMAP4rev1 ", "a OK"}}})
	if r := c.cmd("CAPABILITY"); !strings.Contains(r[0], " APPENDLIMIT=52428800") || !strings.Contains(r[0], " MOVE") ||
		!strings.Contains(r[0], " SPECIAL-USE") || strings.Contains(r[0], "STARTTLS") ||
		!strings.Contains(r[0], " LITERAL+") || strings.Contains(r[0], "LITERAL-") {
		t.Errorf("capabilities after login: %q", r[0])
	}

	// Elsewhere, not before STARTTLS.
	addr := e.serve(t, false, &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000})
	c = dialAddr(t, addr)
	runSteps(t, c, []step{
		{"CAPABILITY", []string{"* CAPABILITY IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ENABLE IDLE STARTTLS LOGINDISABLED", "a OK"}},
		{"LOGIN toto secret", []string{"a NO [PRIVACYREQUIRED]"}},
		{"AUTHENTICATE PLAIN AHRvdG8Ac2VjcmV0", []string{"a NO [PRIVACYREQUIRED]"}},
	})
	c.send("a STARTTLS\r\nb NOOP\r\n") // the NOOP in clear text is dropped
	if l := c.line(); l != "a OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	c.conn = tc
	c.r.Reset(tc)
	runSteps(t, c, []step{
		{"CAPABILITY", []string{"* CAPABILITY IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ENABLE IDLE AUTH=PLAIN AUTH=LOGIN", "a OK"}},
		{"STARTTLS", []string{"a BAD"}},
		{"AUTHENTICATE PLAIN AHRvdG8Ac2VjcmV0", []string{"a OK"}},
		{"SELECT INBOX", []string{"a OK"}},
	})
}

// TestSearchCachedField checks SEARCH on a cached field, which the store
// narrows down first: case, a subject clipped in the cache with the string
// past the clip, and the other keys of the program still applied.
func TestSearchCachedField(t *testing.T) {
	e := newEnv(t, Config{})
	long := strings.Repeat("é", 600) + " needle" // past the cache's 990 octets
	e.add(t, "toto", "INBOX", msg(long, "a"), msg("the NEEDLE", "b"), msg("nothing", "needle in the body"))
	c := e.dial(t)
	c.login()
	runSteps(t, c, []step{
		{"SELECT INBOX", []string{"a OK"}},
		{"SEARCH SUBJECT needle", []string{"* SEARCH 1 2", "a OK"}},
		{"SEARCH SUBJECT needle NOT SUBJECT the", []string{"* SEARCH 1", "a OK"}},
		{"SEARCH SUBJECT NeEdLe SENTON 2-Jan-2006", []string{"* SEARCH 1 2", "a OK"}},
		{"SEARCH SUBJECT needle SENTON 3-Jan-2006", []string{"* SEARCH", "a OK"}},
		{`STORE 2 +FLAGS (\Seen)`, []string{"a OK"}},
		{"SEARCH SUBJECT needle UNSEEN", []string{"* SEARCH 1", "a OK"}},
		{"SEARCH FROM ALICE SUBJECT nothing", []string{"* SEARCH 3", "a OK"}},
	})
}

// TestIdleEnd checks how IDLE ends: DONE in any case ends it with OK; any
// other line ends it with BAD, after the session's IDLE has returned, and
// the session goes on (the next command never runs beside IDLE).
func TestIdleEnd(t *testing.T) {
	e := newEnv(t, Config{})
	e.add(t, "toto", "INBOX", msg("one", "x"))
	c := e.dial(t)
	c.login()
	c.cmd("SELECT INBOX")
	for _, tt := range []struct{ end, want string }{
		{"DONE", "i OK"},
		{"done", "i OK"},
		{"DON8", "i BAD Expected DONE"},
		{"DONE DONE", "i BAD Expected DONE"},
		{strings.Repeat("x", 10000), "i BAD Expected DONE"},
	} {
		c.send("i IDLE\r\n")
		if l := c.line(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("IDLE: %q", l)
		}
		c.send(tt.end + "\r\n")
		if l := c.line(); !strings.HasPrefix(l, tt.want) {
			t.Errorf("IDLE ended by %.20q: %q, want %q", tt.end, l, tt.want)
		}
		runSteps(t, c, []step{{"FETCH 1 (FLAGS)", []string{"* 1 FETCH (FLAGS ())", "a OK"}}})
	}
}

// TestKeywordTooLong checks that a keyword the store cannot keep gets BAD
// naming it, in STORE and in APPEND, and changes nothing.
func TestKeywordTooLong(t *testing.T) {
	e := newEnv(t, Config{})
	e.add(t, "toto", "INBOX", msg("one", "x"))
	c := e.dial(t)
	c.login()
	long := strings.Repeat("k", 300)
	runSteps(t, c, []step{
		{"SELECT INBOX", []string{"a OK"}},
		{"STORE 1 +FLAGS (" + long + ")", []string{"a BAD Invalid keyword"}},
		{"APPEND INBOX (" + long + ") {3+}\r\nx\r\n", []string{"a BAD Invalid keyword"}},
		{"STATUS INBOX (MESSAGES)", []string{"* STATUS INBOX (MESSAGES 1)", "a OK"}},
		{"FETCH 1 FLAGS", []string{"* 1 FETCH (FLAGS ())", "a OK"}},
	})
}
