package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"facteur/internal/address"
	"facteur/internal/config"
	"facteur/internal/ctl"
	"facteur/internal/envelope"
	"facteur/internal/maildrop"
	"facteur/internal/smtp"
	"facteur/internal/smtpd"
)

// More sysexits.h codes, for sendmail(1)'s callers.
const (
	exCantCreat = 73 // the maildrop file could not be written
)

// Control socket operations of sendmail and the pickup.
const (
	opSubmit = "sendmail.submit" // args: the maildrop.Envelope as JSON; payload: the message
	opSMTP   = "sendmail.smtp"   // payload: the client's side of an SMTP session (-bs)
	opKick   = "pickup.kick"     // scan the maildrop now
)

// submitTimeout bounds a hand-off to the running server.
const submitTimeout = 10 * time.Minute

// argv0Args returns the arguments that the binary run under the name
// argv0 stands for: Postfix's sendmail and mailq names.
func argv0Args(argv0 string) []string {
	switch filepath.Base(argv0) {
	case "sendmail":
		return []string{"sendmail"}
	case "mailq":
		return []string{"sendmail", "-bp"}
	}
	return nil
}

// sendmailOpts are the options of sendmail(1) that facteur honours.
type sendmailOpts struct {
	mode       string // "m" deliver a message (-bm), "s" SMTP (-bs), "p" list the queue (-bp), "q" flush (-q)
	extract    bool   // -t: recipients from the header
	ignoreDots bool   // -i, -oi: only EOF ends the message
	sender     string // -f, -r
	senderSet  bool
	fullName   string // -F
	config     string // -C, -config
	rcpts      []string
}

// Options of Postfix's sendmail that take a value; of these, only -b, -C,
// -F, -f, -o and -r mean something here.
const sendmailValueOpts = "ABCFLNORVXbefhopr"

// parseSendmailArgs reads sendmail(1)'s command line as getopt does, with
// options and recipients in any order (GNU getopt's permutation, which
// Postfix's sendmail gets on Linux) and "--" ending the options.
func parseSendmailArgs(args []string) (*sendmailOpts, error) {
	o := &sendmailOpts{mode: "m"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.rcpts = append(o.rcpts, args[i+1:]...)
			return o, nil
		case a == "-config" || a == "--config":
			if i+1 >= len(args) {
				return nil, usageErr("option %s needs a value", a)
			}
			i++
			o.config = args[i]
			continue
		case strings.HasPrefix(a, "-config=") || strings.HasPrefix(a, "--config="):
			_, o.config, _ = strings.Cut(a, "=")
			continue
		case len(a) < 2 || a[0] != '-':
			o.rcpts = append(o.rcpts, a)
			continue
		}
		next, err := o.cluster(a, args, i)
		if err != nil {
			return nil, err
		}
		i = next
	}
	return o, nil
}

// cluster applies one argument of option letters ("-ti", "-fuser",
// "-f user") and returns the index of the last argument it used.
func (o *sendmailOpts) cluster(a string, args []string, i int) (int, error) {
	for j := 1; j < len(a); j++ {
		c := a[j]
		if strings.IndexByte(sendmailValueOpts, c) >= 0 {
			v := a[j+1:]
			if v == "" {
				if i+1 >= len(args) {
					return i, usageErr("option -%c needs a value", c)
				}
				i++
				v = args[i]
			}
			return i, o.valueOpt(c, v)
		}
		switch c {
		case 't':
			o.extract = true
		case 'i':
			o.ignoreDots = true
		case 'q':
			// -q, -qinterval, -qRsite: Postfix flushes the queue.
			o.mode = "q"
			return i, nil
		case 'G', 'I', 'U', 'c', 'm', 'n', 'v', 'x':
			// Accepted and ignored, as Postfix does.
		default:
			return i, usageErr("unknown option -%c", c)
		}
	}
	return i, nil
}

func (o *sendmailOpts) valueOpt(c byte, v string) error {
	switch c {
	case 'b':
		switch v {
		case "m", "s", "p":
			o.mode = v
		case "d", "D":
			return usageErr("-b%s: run the daemon with facteur serve", v)
		default:
			return usageErr("-b%s is not supported (use -bm, -bs or -bp)", v)
		}
	case 'f', 'r':
		o.sender, o.senderSet = v, true
	case 'F':
		o.fullName = v
	case 'C':
		o.config = v
	case 'o':
		// -oi is -i; every other -o option is sendmail.cf's and ignored.
		if v == "i" {
			o.ignoreDots = true
		}
	}
	return nil
}

// localUser is who runs sendmail: login name and full name.
type localUser struct {
	login, fullName string
	uid             int
}

// currentUser looks the invoking user up in the passwd database, by uid as
// Postfix's sendmail does (not $USER, which anyone can set).
func currentUser() (localUser, error) {
	u, err := user.Current()
	if err != nil {
		return localUser{}, fmt.Errorf("looking up the invoking user: %w", err)
	}
	// The gecos field's first comma-separated part is the full name.
	name, _, _ := strings.Cut(u.Name, ",")
	return localUser{login: u.Username, fullName: name, uid: os.Getuid()}, nil
}

func runSendmail(env *cmdEnv, args []string) error {
	o, err := parseSendmailArgs(args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(env, map[string]string{"config": o.config})
	if err != nil {
		return err
	}
	switch o.mode {
	case "p":
		if len(o.rcpts) > 0 {
			return usageErr("-bp takes no arguments")
		}
		q, err := openQueueReader(cfg)
		if err != nil {
			return err
		}
		defer q.Close()
		return printQueue(context.Background(), env.stdout, q)
	case "q":
		op, _ := findQueueOp("flush")
		return runQueueControl(env, cfg, op, nil)
	case "s":
		return runSendmailSMTP(env, cfg)
	}
	u, err := currentUser()
	if err != nil {
		return &exitError{code: exSoftware, err: err}
	}
	if o.fullName == "" {
		if o.fullName = env.getenv("NAME"); o.fullName == "" {
			o.fullName = u.fullName
		}
	}
	return sendMessage(env, cfg, o, u)
}

// sendMessage reads the message from standard input and hands it over.
func sendMessage(env *cmdEnv, cfg *config.Config, o *sendmailOpts, u localUser) error {
	msg, err := readMessage(env.stdin, o.ignoreDots, cfg.Int("message_size_limit"))
	if err != nil {
		return err
	}
	origin := cfg.Get("myorigin")
	de, msg, err := prepare(msg, o, u, origin)
	if err != nil {
		return err
	}
	de.UID, de.Time = u.uid, time.Now()
	return handOver(env, cfg, de, msg)
}

// prepare builds the envelope and the message as queued: sender and
// recipients qualified with origin, recipients from the header with -t,
// Bcc removed, a From field added when missing.
func prepare(msg []byte, o *sendmailOpts, u localUser, origin string) (*maildrop.Envelope, []byte, error) {
	de := &maildrop.Envelope{Body: "7BIT"}
	sender := u.login
	if o.senderSet {
		sender = o.sender
	}
	var err error
	if de.Sender, err = qualifySender(sender, origin); err != nil {
		return nil, nil, &exitError{code: exDataErr, err: fmt.Errorf("bad sender address %q: %w", sender, err)}
	}
	h := splitHeader(msg)
	rcpts := o.rcpts
	if o.extract {
		found, err := h.recipients()
		if err != nil {
			return nil, nil, &exitError{code: exDataErr, err: err}
		}
		// Postfix adds the command line's recipients to the header's.
		rcpts = append(found, rcpts...)
	}
	seen := make(map[string]bool)
	for _, r := range rcpts {
		q, err := qualify(r, origin)
		if err != nil {
			return nil, nil, &exitError{code: exDataErr, err: fmt.Errorf("bad recipient address %q: %w", r, err)}
		}
		if !seen[q] {
			seen[q] = true
			de.Recipients = append(de.Recipients, q)
		}
	}
	if len(de.Recipients) == 0 {
		if o.extract {
			return nil, nil, &exitError{code: exUsage, err: errors.New("no recipient addresses found in message header")}
		}
		return nil, nil, usageErr("no recipients specified")
	}
	if o.extract {
		h.removeBcc()
	}
	if !h.has("From") {
		h.add("From: " + fromField(o.fullName, de.Sender) + "\r\n")
	}
	out := h.bytes()
	if has8bit(out) {
		de.Body = "8BITMIME"
	}
	return de, out, nil
}

// fromField is the From field Postfix's cleanup adds: the full name as a
// quoted phrase (RFC 5322 §3.2.5), or an RFC 2047 encoded word when it is
// not ASCII, and the sender.
func fromField(fullName, sender string) string {
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	name := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(fullName))
	switch {
	case name == "":
		return "<" + sender + ">"
	case isASCII(name):
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `" <` + sender + ">"
	}
	return mime.QEncoding.Encode("utf-8", name) + " <" + sender + ">"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// qualifySender is qualify for -f, where "" and "<>" are the null sender.
func qualifySender(s, origin string) (string, error) {
	if s = strings.TrimSpace(s); s == "" || s == "<>" {
		return "", nil
	}
	return qualify(s, origin)
}

// qualify turns a command-line or header address into the queue's form:
// angle brackets and display name dropped, a bare local part given
// "@origin" (Postfix's append_at_myorigin).
func qualify(s, origin string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "<>") {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return "", fmt.Errorf("%w: %v", address.ErrSyntax, err)
		}
		s = a.Address
	}
	if s == "" {
		return "", fmt.Errorf("%w: empty address", address.ErrSyntax)
	}
	if !strings.Contains(s, "@") {
		s += "@" + origin
	}
	a, err := address.Parse(s)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// readMessage reads a message as sendmail does: a line holding only "."
// ends it unless ignoreDots (-i) is set, and LF line ends become CRLF, the
// form the queue keeps (RFC 5322 §2.1). A message over limit (0: none) is
// refused.
func readMessage(r io.Reader, ignoreDots bool, limit int64) ([]byte, error) {
	if limit > 0 {
		// The output is never shorter than what was read (LF grows to
		// CRLF): reading past limit is caught below, never truncated.
		r = io.LimitReader(r, limit+1)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var out bytes.Buffer
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			body := line
			if full := line[len(line)-1] == '\n'; full {
				body = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
				if !ignoreDots && string(body) == "." {
					break
				}
			}
			out.Write(body)
			out.WriteString("\r\n") // a last line without its end gets one
			if limit > 0 && int64(out.Len()) > limit {
				return nil, &exitError{code: exDataErr, err: fmt.Errorf("message file too big (message_size_limit is %d bytes)", limit)}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &exitError{code: exTempFail, err: fmt.Errorf("reading the message: %w", err)}
		}
	}
	return out.Bytes(), nil
}

// handOver submits the message to the running server, and when no server
// answers, or the server cannot take it now, drops it into the maildrop
// for the pickup: exit 0 means the message is on stable storage either way.
func handOver(env *cmdEnv, cfg *config.Config, de *maildrop.Envelope, msg []byte) error {
	de.Size = int64(len(msg))
	arg, err := json.Marshal(de)
	if err != nil {
		return &exitError{code: exSoftware, err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
	defer cancel()
	var out bytes.Buffer
	err = ctl.CallStream(ctx, controlPath(cfg), opSubmit, []string{string(arg)}, bytes.NewReader(msg), &out)
	switch {
	case err == nil:
		return nil
	case permanentRefusal(err):
		return &exitError{code: exDataErr, err: err}
	case !errors.Is(err, ctl.ErrNotRunning):
		fmt.Fprintf(env.stderr, "sendmail: warning: the server did not take the message (%v); it waits in the maildrop\n", err)
	}
	dir := dataPath(cfg, "maildrop")
	if _, err := maildrop.Write(dir, de, msg); err != nil {
		return &exitError{code: exCantCreat, err: err}
	}
	return nil
}

// permanentRefusal reports a server's refusal that starts with an SMTP 5xx
// reply: the message would be refused again, so it is not dropped.
func permanentRefusal(err error) bool {
	if errors.Is(err, ctl.ErrNotRunning) {
		return false
	}
	s := err.Error()
	return len(s) > 4 && s[0] == '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' && s[3] == ' '
}

// msgHeader is a message split into its header fields, kept as written
// (folded lines included), and the rest.
type msgHeader struct {
	fields [][]byte // each field with its CRLF
	rest   []byte   // the empty line and body, or the first line that is no field
}

// splitHeader splits msg (CRLF line ends) at the end of its header: the
// first line that is neither a field (RFC 5322 §2.2: a name of printable
// ASCII, then ":") nor the continuation of one (§2.2.3).
func splitHeader(msg []byte) *msgHeader {
	h := &msgHeader{}
	pos := 0
	for pos < len(msg) {
		end := bytes.Index(msg[pos:], []byte("\r\n"))
		if end < 0 {
			end = len(msg) - pos
		} else {
			end += 2
		}
		line := msg[pos : pos+end]
		switch {
		case (line[0] == ' ' || line[0] == '\t') && len(h.fields) > 0:
			last := len(h.fields) - 1
			h.fields[last] = append(h.fields[last], line...)
		case isFieldLine(line):
			h.fields = append(h.fields, append([]byte(nil), line...))
		default:
			h.rest = msg[pos:]
			return h
		}
		pos += end
	}
	return h
}

func isFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t") // RFC 5322 §4.5.1: obsolete WSP before ":"
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// fieldName returns a field's name.
func fieldName(f []byte) string {
	name, _, _ := bytes.Cut(f, []byte(":"))
	return string(bytes.TrimRight(name, " \t"))
}

// fieldValue returns a field's value, unfolded (RFC 5322 §2.2.3).
func fieldValue(f []byte) string {
	_, v, _ := bytes.Cut(f, []byte(":"))
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	return strings.TrimSpace(string(bytes.TrimRight(v, "\n")))
}

func (h *msgHeader) has(name string) bool {
	for _, f := range h.fields {
		if strings.EqualFold(fieldName(f), name) {
			return true
		}
	}
	return false
}

// add appends a field (with its CRLF) to the header.
func (h *msgHeader) add(field string) { h.fields = append(h.fields, []byte(field)) }

// removeBcc drops the Bcc and Resent-Bcc fields: their recipients must
// not see each other (RFC 5322 §3.6.3).
func (h *msgHeader) removeBcc() {
	kept := h.fields[:0]
	for _, f := range h.fields {
		if n := fieldName(f); !strings.EqualFold(n, "Bcc") && !strings.EqualFold(n, "Resent-Bcc") {
			kept = append(kept, f)
		}
	}
	h.fields = kept
}

// bytes returns the message with the header as it now is.
func (h *msgHeader) bytes() []byte {
	var b bytes.Buffer
	for _, f := range h.fields {
		b.Write(f)
		if !bytes.HasSuffix(f, []byte("\n")) {
			b.WriteString("\r\n")
		}
	}
	if len(h.rest) > 0 && !bytes.HasPrefix(h.rest, []byte("\r\n")) {
		b.WriteString("\r\n") // the body that followed no empty line
	}
	b.Write(h.rest)
	return b.Bytes()
}

// recipients returns the addresses of -t: those of the To, Cc and Bcc
// fields, or, when the message has Resent- fields, those of Resent-To,
// Resent-Cc and Resent-Bcc (RFC 5322 §3.6.6), as Postfix does.
func (h *msgHeader) recipients() ([]string, error) {
	names := []string{"To", "Cc", "Bcc"}
	if h.has("Resent-To") || h.has("Resent-Cc") || h.has("Resent-Bcc") {
		names = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
	}
	var out []string
	for _, f := range h.fields {
		name := fieldName(f)
		for _, n := range names {
			if !strings.EqualFold(name, n) {
				continue
			}
			addrs, err := parseAddressList(fieldValue(f))
			if err != nil {
				return nil, fmt.Errorf("bad address in %s field: %w", n, err)
			}
			out = append(out, addrs...)
		}
	}
	return out, nil
}

// parseAddressList reads an RFC 5322 §3.4 address-list (display names,
// groups, comments). A list net/mail refuses is read item by item, so that
// the bare local parts programs write ("To: root") pass, to be qualified.
func parseAddressList(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	parser := &mail.AddressParser{WordDecoder: &mime.WordDecoder{}}
	if list, err := parser.ParseList(v); err == nil {
		return addrSpecs(list), nil
	}
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.ContainsAny(item, "@<>\" ():;") {
			out = append(out, item)
			continue
		}
		list, err := parser.ParseList(item)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", item, err)
		}
		out = append(out, addrSpecs(list)...)
	}
	return out, nil
}

// runSendmailSMTP is -bs: an SMTP session on standard input and output.
// With the server running, the session is the server's own, carried over
// the control socket; without it, a session runs here whose messages go
// to the maildrop, as Postfix's sendmail -bs does through postdrop.
func runSendmailSMTP(env *cmdEnv, cfg *config.Config) error {
	ctx := context.Background()
	path := controlPath(cfg)
	// An empty payload probes the server: a request that fails once the
	// session's input is read could not run it again.
	err := ctl.Call(ctx, path, opKick, nil, nil)
	if err == nil {
		err = ctl.CallStream(ctx, path, opSMTP, nil, env.stdin, env.stdout)
		if err != nil {
			return &exitError{code: exTempFail, err: err}
		}
		return nil
	}
	if !errors.Is(err, ctl.ErrNotRunning) {
		return &exitError{code: exTempFail, err: err}
	}
	u, err := currentUser()
	if err != nil {
		return &exitError{code: exSoftware, err: err}
	}
	srv := smtpd.NewServer(smtpd.Config{
		Hostname:       cfg.Get("myhostname"),
		Banner:         cfg.Get("smtpd_banner"),
		MaxMessageSize: cfg.Int("message_size_limit"),
		MaxRecipients:  int(cfg.Int("smtpd_recipient_limit")),
		Timeout:        cfg.Duration("smtpd_timeout"),
		DisableVRFY:    true,
	}, dropPolicy{}, &dropSink{dir: dataPath(cfg, "maildrop"), uid: u.uid})
	conn := newStreamConn(env.stdin, env.stdout)
	srv.ServeConn(ctx, conn)
	return nil
}

// dropPolicy accepts every recipient of an offline -bs session: the
// server's policy decides when the pickup submits the message.
type dropPolicy struct{}

func (dropPolicy) ClientTrusted(netip.Addr) bool { return true }

func (dropPolicy) Recipient(_ context.Context, _ *envelope.Client, rcpt address.Address) ([]*envelope.Recipient, *smtp.Reply) {
	return []*envelope.Recipient{{Addr: rcpt.String()}}, nil
}

func (dropPolicy) Verify(context.Context, *envelope.Client, string) *smtp.Reply {
	return smtp.NewReply(252, "2.0.0", "Send some mail, I'll try my best")
}

func (dropPolicy) Expand(context.Context, *envelope.Client, string) *smtp.Reply {
	return smtp.NewReply(502, "5.5.1", "EXPN command not available")
}

// dropSink writes the messages of an offline -bs session into the
// maildrop.
type dropSink struct {
	dir string
	uid int
}

func (*dropSink) SpaceOK() bool { return true }

func (s *dropSink) Begin(_ context.Context, env *envelope.Envelope) (smtpd.Message, error) {
	return &dropMessage{s: s, env: env}, nil
}

type dropMessage struct {
	s    *dropSink
	env  *envelope.Envelope
	buf  bytes.Buffer
	name string
}

func (m *dropMessage) ID() string                  { return "maildrop" }
func (m *dropMessage) Write(p []byte) (int, error) { return m.buf.Write(p) }
func (m *dropMessage) Abort()                      {}

func (m *dropMessage) Commit(context.Context) error {
	de := &maildrop.Envelope{Sender: m.env.Sender, Body: m.env.Body, UID: m.s.uid, Time: time.Now()}
	seen := make(map[string]bool)
	for _, r := range m.env.Recipients {
		if !seen[r.Addr] {
			seen[r.Addr] = true
			de.Recipients = append(de.Recipients, r.Addr)
		}
	}
	name, err := maildrop.Write(m.s.dir, de, m.buf.Bytes())
	if err != nil {
		return smtp.NewReply(451, "4.3.0", "Error: cannot write the maildrop file")
	}
	m.name = name
	return nil
}

func addrSpecs(list []*mail.Address) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out
}
