package imapd

import (
	"bytes"
	"net/mail"
	"strings"
	"time"

	"facteur/internal/header"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// envelopeFields are the header fields ENVELOPE reports (RFC 9051 §7.5.2);
// the others need no parsing for it.
var envelopeFields = map[string]string{
	"date": "Date", "subject": "Subject", "from": "From", "sender": "Sender",
	"reply-to": "Reply-To", "to": "To", "cc": "Cc", "bcc": "Bcc",
	"in-reply-to": "In-Reply-To", "message-id": "Message-Id",
}

// envelope is ENVELOPE for a header section. It keeps only the fields
// ENVELOPE reports before handing them to the library's extraction, and
// reads the date itself: a FETCH 1:* ENVELOPE of a large mailbox spent
// most of its time parsing Received fields it never used and trying
// date layouts one by one.
func envelope(raw []byte) *imap.Envelope {
	var h textproto.Header
	var date string
	header.Fields(raw, 0, func(name string, value []byte) {
		value = bytes.TrimSpace(value)
		canon, ok := envelopeFields[strings.ToLower(name)]
		if !ok || h.Has(canon) || (canon == "Date" && date != "") {
			return
		}
		if canon == "Date" {
			date = string(value)
			return
		}
		h.Add(canon, string(value))
	})
	env := imapserver.ExtractEnvelope(h)
	env.Date = parseDate(date)
	return env
}

// dateLayouts are the forms of RFC 5322 §3.3 that mail carries most,
// tried before net/mail's general parser.
var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 -0700 (MST)",
	"2 Jan 2006 15:04:05 -0700",
}

// parseDate reads a Date field; the zero time when it cannot (ENVELOPE's
// date is then NIL).
func parseDate(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	t, err := mail.ParseDate(s)
	if err != nil {
		return time.Time{}
	}
	return t
}
