package smtpd

import (
	"bufio"
	"crypto/tls"
	"strings"
	"time"

	"facteur/internal/smtp"
	"facteur/internal/tlsconf"
)

// tlsOffered reports whether EHLO lists STARTTLS and STARTTLS works.
func (ss *session) tlsOffered() bool {
	return ss.srv.cfg.TLS != nil && ss.srv.cfg.TLSLevel != TLSNone && !ss.tls &&
		(ss.port == PortSMTP || ss.port == PortSubmission)
}

// tlsRequired reports smtpd_tls_security_level = encrypt before STARTTLS:
// MAIL gets 530 5.7.0 (RFC 3207 §4).
func (ss *session) tlsRequired() bool {
	return !ss.tls && ss.srv.cfg.TLSLevel == TLSEncrypt && ss.port != portLocal
}

// starttls answers STARTTLS and runs the handshake (RFC 3207 §4).
func (ss *session) starttls(arg string) {
	switch {
	case ss.tls:
		ss.reply(smtp.NewReply(554, "5.5.1", "Error: TLS already active"))
		return
	case !ss.tlsOffered():
		ss.notImplemented(arg)
		return
	case arg != "":
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: STARTTLS"))
		return
	case ss.tx != nil:
		ss.reply(smtp.NewReply(503, "5.5.1", "Error: MAIL transaction in progress"))
		return
	}
	ss.reply(smtp.NewReply(220, "2.0.0", "Ready to start TLS"))
	if !ss.flush() {
		return
	}
	// RFC 3207 §4.2 and CVE-2011-0411: whatever the client sent after
	// STARTTLS and before the handshake came in plain text and must not be
	// taken as commands under TLS. The reader that holds it is dropped
	// with its buffer; the handshake reads the connection itself.
	if n := ss.r.Buffered(); n > 0 {
		ss.srv.cfg.Log.Warn("%s: discarding %d bytes of plaintext pipelined after STARTTLS", ss.name, n)
	}
	if !ss.handshake() {
		return
	}
	// RFC 3207 §4.2: the server forgets what it learnt before TLS, the
	// HELO or EHLO argument first of all.
	ss.reset()
	ss.greeted, ss.ehlo = false, false
	ss.client.Helo, ss.client.Protocol = "", ""
}

// handshake runs the TLS handshake on the connection, within the session
// timeout, and makes the session read and write through TLS. A failure
// ends the session: the connection is in no state for a reply.
func (ss *session) handshake() bool {
	tc := tls.Server(ss.raw, ss.srv.cfg.TLS)
	ss.raw.SetDeadline(time.Now().Add(ss.srv.cfg.Timeout))
	err := tc.HandshakeContext(ss.ctx)
	ss.raw.SetDeadline(time.Time{})
	if err != nil {
		ss.srv.cfg.Log.Warn("TLS handshake failed with %s: %v", ss.name, err)
		ss.srv.cfg.Log.Event("", "lost connection after %s from %s", ss.handshakeVerb(), ss.name)
		ss.done = true
		return false
	}
	ss.tls = true
	ss.client.TLS = tlsconf.Describe(tc.ConnectionState())
	ss.srv.cfg.Log.Event("", "Anonymous TLS connection established from %s: %s",
		ss.name, strings.TrimPrefix(tlsconf.CommentFor(ss.client.TLS), "using "))
	ss.conn = timeoutConn{Conn: tc, ss: ss}
	ss.r = smtp.NewReader(ss.conn)
	ss.w = bufio.NewWriterSize(ss.conn, writeBufferSize)
	return true
}

func (ss *session) handshakeVerb() string {
	if ss.port == PortSubmissions {
		return "CONNECT"
	}
	return "STARTTLS"
}
