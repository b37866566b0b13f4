package config

import (
	"slices"
	"strings"
)

// The kinds of parameter values.
const (
	KindString      = "string"       // any text
	KindList        = "list"         // separated by commas and/or white space
	KindBool        = "bool"         // yes or no
	KindInt         = "int"          // a decimal integer
	KindSize        = "size"         // a number of bytes
	KindTime        = "time"         // a number with an optional unit s, m, h, d or w
	KindAddressList = "address list" // host:port listen addresses
)

// Param is one row of the parameter table.
type Param struct {
	Name    string
	Default string // raw: may hold $name references
	Kind    string // one of the Kind constants
	Unit    string // for KindTime: the unit of a bare number (s, h or d)
	Doc     string
}

// Params returns the one table of parameters, sorted by name. It is built
// on each call so that no caller can change another's copy.
func Params() []Param {
	ps := []Param{
		{"2bounce_notice_recipient", "postmaster", KindString, "", "Who gets the notice when mail from the null sender (a notice itself) cannot be delivered."},
		{"bounce_size_limit", "50000", KindSize, "", "How much of the original message a delivery status notice carries; past it, only the header."},
		{"default_destination_concurrency_limit", "20", KindInt, "", "SMTP sessions at once to one destination (a domain, relayhost or transport_maps next hop)."},
		{"default_process_limit", "100", KindInt, "", "Messages in delivery at once."},
		{"smtp_connect_timeout", "30s", KindTime, "s", "How long the SMTP client waits for a TCP connection."},
		{"smtp_connection_cache_time_limit", "2s", KindTime, "s", "How long an idle SMTP client connection is kept for the next message to the same destination."},
		{"smtp_data_done_timeout", "600s", KindTime, "s", "How long the SMTP client waits for the reply to the end of data."},
		{"smtp_data_init_timeout", "120s", KindTime, "s", "How long the SMTP client waits for the reply to DATA."},
		{"smtp_data_xfer_timeout", "180s", KindTime, "s", "How long the SMTP client may stall while sending the message content."},
		{"smtp_helo_timeout", "300s", KindTime, "s", "How long the SMTP client waits for the greeting and the reply to EHLO or HELO."},
		{"smtp_mail_timeout", "300s", KindTime, "s", "How long the SMTP client waits for the reply to MAIL FROM."},
		{"smtp_port", "25", KindInt, "", "facteur's own: the port that delivery by MX lookup connects to."},
		{"smtp_quit_timeout", "300s", KindTime, "s", "How long the SMTP client waits for the reply to QUIT."},
		{"smtp_rcpt_timeout", "300s", KindTime, "s", "How long the SMTP client waits for the reply to RCPT TO."},
		{"smtp_starttls_timeout", "300s", KindTime, "s", "How long the SMTP client waits for the TLS handshake after STARTTLS."},
		{"smtp_tls_security_level", "may", KindString, "", "TLS for outbound SMTP: `none` (never), `may` (STARTTLS when offered, no certificate check; a failed handshake retries without TLS) or `encrypt` (TLS required, else the mail is deferred)."},
		{"transport_maps", "", KindList, "", "Tables choosing a next hop per recipient domain: `example.org smtp:[mx.example.org]:2525`, `.example.org` for subdomains, `*` for all; `error:TEXT` bounces."},
		{"alias_maps", "", KindList, "", "Alias tables for local recipients, in aliases(5) format: `hash:FILE`, `texthash:FILE`, `aliases:FILE` or a path (the source file is read directly), or `inline:{...}`. Earlier maps win."},
		{"bounce_queue_lifetime", "5d", KindTime, "d", "How long an undeliverable bounce message stays queued."},
		{"command_time_limit", "1000s", KindTime, "s", "Time limit for delivery to a command (an alias `|command`)."},
		{"data_directory", "/var/lib/facteur", KindString, "", "facteur's own: the directory that holds all state (queue, mailboxes). Nothing else is written."},
		{"delay_warning_time", "0h", KindTime, "h", "After how long a delayed message gets a delay notice; 0 disables them."},
		{"disable_vrfy_command", "no", KindBool, "", "Refuse the SMTP VRFY command."},
		{"dns_nameservers", "", KindAddressList, "", "facteur's own: DNS servers as host:port; empty means the system's resolver."},
		{"hopcount_limit", "50", KindInt, "", "Maximum number of Received: headers before a message is bounced as looping."},
		{"header_size_limit", "102400", KindSize, "", "How much of a message's header is held while receiving it; past it the rest is taken as body."},
		{"imap_listen", "", KindAddressList, "", "facteur's own: IMAP (RFC 9051, port 143) listen addresses: STARTTLS, and LOGIN and AUTHENTICATE PLAIN or LOGIN for the accounts of `facteur user`. Empty disables it."},
		{"imaps_listen", "", KindAddressList, "", "facteur's own: IMAP over implicit TLS (RFC 8314, port 993) listen addresses. Empty disables it."},
		{"mail_name", "facteur", KindString, "", "The mail system name, shown in the SMTP banner."},
		{"maximal_backoff_time", "4000s", KindTime, "s", "Longest time between delivery attempts of a deferred message."},
		{"maximal_queue_lifetime", "5d", KindTime, "d", "How long a message may stay queued before it is bounced."},
		{"message_size_limit", "10240000", KindSize, "", "Largest message accepted, in bytes (headers and envelope included)."},
		{"minimal_backoff_time", "300s", KindTime, "s", "Shortest time between delivery attempts of a deferred message."},
		{"mydestination", "$myhostname, localhost.$mydomain, localhost", KindList, "", "Domains delivered locally (to accounts and alias_maps)."},
		{"mydomain", "(myhostname minus its first label, or localdomain)", KindString, "", "This system's domain name."},
		{"myhostname", "(system host name)", KindString, "", "This system's fully qualified host name."},
		{"mynetworks", "", KindList, "", "Trusted clients, which may relay: CIDR networks, addresses, `[::1]/128`, `cidr:FILE`. Empty means computed from mynetworks_style."},
		{"mynetworks_style", "host", KindString, "", "How to compute mynetworks when it is empty: `host`, `subnet` or `class`. Loopback is always trusted."},
		{"myorigin", "$myhostname", KindString, "", "The domain that locally posted mail appears to come from, and that qualifies bare names."},
		{"password_hash_memory", "19922944", KindSize, "", "facteur's own: the memory cost of argon2id password hashes, in bytes (19 MiB, OWASP's recommendation); new hashes only."},
		{"password_hash_threads", "1", KindInt, "", "facteur's own: the parallelism of argon2id password hashes; new hashes only."},
		{"password_hash_time", "2", KindInt, "", "facteur's own: the time cost (passes) of argon2id password hashes; new hashes only."},
		{"pop3_listen", "", KindAddressList, "", "facteur's own: POP3 (RFC 1939, port 110) listen addresses: STLS, and USER, PASS and AUTH PLAIN for the accounts of `facteur user`. Empty disables it."},
		{"pop3s_listen", "", KindAddressList, "", "facteur's own: POP3 over implicit TLS (RFC 8314, port 995) listen addresses. Empty disables it."},
		{"disable_plaintext_auth", "yes", KindBool, "", "Dovecot's: POP3 and IMAP logins only under TLS or from a loopback address; elsewhere USER and AUTH get -ERR [AUTH] until STLS, and IMAP announces LOGINDISABLED and answers NO [PRIVACYREQUIRED] until STARTTLS. Failed logins are throttled with the smtpd_auth_failure_* parameters."},
		{"queue_run_delay", "300s", KindTime, "s", "How often the queue manager scans the deferred queue."},
		{"recipient_delimiter", "+", KindString, "", "The separator between a user name and an address extension (`user+ext`)."},
		{"relay_domains", "", KindList, "", "Domains this system relays to, from any client."},
		{"relayhost", "", KindString, "", "The next hop for non-local mail: `host`, `host:port`, `[host]`, `[host]:port`, `[1.2.3.4]:port`, `[IPv6:2001:db8::1]:port`. Brackets turn off MX lookup. Empty means deliver by MX."},
		{"smtpd_banner", "$myhostname ESMTP $mail_name", KindString, "", "The text after 220 in the SMTP greeting."},
		{"smtpd_client_connection_count_limit", "50", KindInt, "", "Simultaneous connections allowed from one client."},
		{"smtpd_forbid_bare_newline", "yes", KindBool, "", "Refuse a bare LF (or CR) in SMTP input, against SMTP smuggling."},
		{"smtpd_hard_error_limit", "20", KindInt, "", "Errors after which the SMTP server drops the client."},
		{"smtpd_listen", "0.0.0.0:25", KindAddressList, "", "facteur's own: the SMTP listen addresses, host:port; empty disables the listener."},
		{"smtpd_peername_lookup", "yes", KindBool, "", "Look up the SMTP client's reverse name and keep it only when it resolves back to the client's address; otherwise, or with no, the name is `unknown`."},
		{"smtpd_recipient_limit", "1000", KindInt, "", "Recipients accepted per message."},
		{"smtpd_shutdown_timeout", "30s", KindTime, "s", "facteur's own: how long SMTP transactions and deliveries in flight may finish on SIGTERM."},
		{"smtpd_tls_cert_file", "", KindString, "", "The SMTP server's certificate, PEM, with its chain after it. Empty (with smtpd_tls_key_file): a self-signed certificate for $myhostname is made under data_directory/tls on first start. SIGHUP reloads it."},
		{"smtpd_tls_key_file", "$smtpd_tls_cert_file", KindString, "", "The private key of smtpd_tls_cert_file, PEM."},
		{"smtpd_tls_security_level", "may", KindString, "", "TLS for SMTP clients on smtpd_listen and submission_listen: `none` (no STARTTLS), `may` (STARTTLS offered) or `encrypt` (STARTTLS required before MAIL: 530 5.7.0)."},
		{"smtpd_tls_auth_only", "yes", KindBool, "", "Offer and accept AUTH only over TLS; AUTH in plain text gets 538 5.7.11 before the credentials are checked."},
		{"smtpd_sasl_auth_enable", "no", KindBool, "", "Offer AUTH on smtpd_listen too (submission and submissions always offer it)."},
		{"smtpd_auth_failure_limit", "10", KindInt, "", "facteur's own: failed logins (SMTP AUTH, POP3 and IMAP counted together) from one client address within smtpd_auth_failure_window after which it is refused and disconnected (SMTP: 421 4.7.0)."},
		{"smtpd_auth_failure_window", "300s", KindTime, "s", "facteur's own: the window in which failed AUTH attempts are counted per client address."},
		{"smtpd_auth_failure_delay", "1s", KindTime, "s", "facteur's own: the pause before answering a failed AUTH, multiplied by the client address's failures so far in the window."},
		{"smtpd_sender_login_maps", "", KindList, "", "Tables of extra sender addresses for authenticated clients: an address (or `@domain`) key, the owning account names as value. Each account owns its address in each local domain and the aliases that lead only to it."},
		{"smtpd_received_hide_client", "no", KindBool, "", "facteur's own: leave the client's name and address out of the Received field of mail from authenticated clients, for privacy."},
		{"submission_listen", "", KindAddressList, "", "facteur's own: message submission (RFC 6409, port 587) listen addresses: STARTTLS, and AUTH required before MAIL. Empty disables it."},
		{"submissions_listen", "", KindAddressList, "", "facteur's own: submission over implicit TLS (RFC 8314, port 465) listen addresses; AUTH required before MAIL. Empty disables it."},
		{"smtpd_timeout", "300s", KindTime, "s", "How long the SMTP server waits for a client's command or data."},
		{"soft_bounce", "no", KindBool, "", "Turn permanent refusals and bounces into temporary ones (5xx into 4xx), for testing."},
		{"virtual_alias_domains", "", KindList, "", "Domains whose every address is an alias in virtual_alias_maps."},
		{"virtual_alias_maps", "", KindList, "", "Tables rewriting recipients (`user@domain`, `user`, `@domain` keys) to addresses."},
		{"virtual_alias_expansion_limit", "1000", KindInt, "", "Addresses that alias expansion may produce from one recipient; more is refused with 550 5.5.3."},
		{"virtual_alias_recursion_limit", "1000", KindInt, "", "How deep aliases may nest; deeper is refused as a forwarding loop (550 5.4.6)."},
		{"virtual_mailbox_domains", "", KindList, "", "Domains whose accounts are named by the full address."},
	}
	slices.SortFunc(ps, func(a, b Param) int { return strings.Compare(a.Name, b.Name) })
	return ps
}

// paramIndex maps each name of the table to its row.
func paramIndex() map[string]Param {
	ps := Params()
	m := make(map[string]Param, len(ps))
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}
