package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func parse(t *testing.T, text string) *Config {
	t.Helper()
	c, _, err := Parse("main.cf", strings.NewReader(text), Options{Hostname: "mail.example.org"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestGet(t *testing.T) {
	tests := []struct {
		name, text, param, want string
	}{
		{"default", "", "recipient_delimiter", "+"},
		{"set", "recipient_delimiter = -", "recipient_delimiter", "-"},
		{"spaces around", "  \nmail_name    =   post   \n", "mail_name", "post"},
		{"no spaces", "mail_name=post", "mail_name", "post"},
		{"empty value", "relayhost =", "relayhost", ""},
		{"later wins", "mail_name = a\nmail_name = b", "mail_name", "b"},
		{"value with =", "smtpd_banner = a=b", "smtpd_banner", "a=b"},
		{"comment", "# mail_name = a\n  # indented comment\nmail_name = b", "mail_name", "b"},
		{"continuation", "mydestination = a,\n  b,\n\tc", "mydestination", "a, b, c"},
		{"comment inside continuation", "mydestination = a,\n# note\n  b", "mydestination", "a, b"},
		{"blank inside continuation", "mydestination = a,\n\n  b", "mydestination", "a, b"},
		{"crlf", "mail_name = post\r\n", "mail_name", "post"},
		{"system host name", "", "myhostname", "mail.example.org"},
		{"mydomain from myhostname", "", "mydomain", "example.org"},
		{"mydomain of single label", "myhostname = box", "mydomain", "localdomain"},
		{"myorigin", "", "myorigin", "mail.example.org"},
		{"mydestination default", "", "mydestination", "mail.example.org, localhost.example.org, localhost"},
		{"banner default", "mail_name = Poste", "smtpd_banner", "mail.example.org ESMTP Poste"},
		{"$name", "a = x\nmail_name = <$a>", "mail_name", "<x>"},
		{"${name}", "a = x\nmail_name = ${a}y", "mail_name", "xy"},
		{"$(name)", "a = x\nmail_name = $(a)y", "mail_name", "xy"},
		{"recursive", "a = $b\nb = ${c}!\nc = deep\nmail_name = $a", "mail_name", "deep!"},
		{"defined later in file", "mail_name = $a\na = x", "mail_name", "x"},
		{"undefined is empty", "mail_name = [$nothing]", "mail_name", "[]"},
		{"? with value", "a = x\nmail_name = ${a?set}", "mail_name", "set"},
		{"? without value", "a =\nmail_name = ${a?set}", "mail_name", ""},
		{": with value", "a = x\nmail_name = ${a:unset}", "mail_name", ""},
		{": without value", "mail_name = ${a:unset}", "mail_name", "unset"},
		{"? expands its text", "a = x\nb = y\nmail_name = ${a?<$b>}", "mail_name", "<y>"},
		{"nested", "a = x\nmail_name = ${a?${b:none}}", "mail_name", "none"},
		{"?{} set", "a = x\nmail_name = ${a?{set, really}}", "mail_name", "set, really"},
		{":{} empty", "mail_name = ${a:{unset}}", "mail_name", "unset"},
		{"?{}:{} set", "a = x\nb = B\nmail_name = ${a?{yes $b}:{no}}", "mail_name", "yes B"},
		{"?{}:{} empty", "mail_name = ${a?{yes} : {no $mail_name_x}}", "mail_name", "no "},
		{"?{} with trailing text is literal", "a = x\nmail_name = ${a?{y}z}", "mail_name", "{y}z"},
		{"$$", "mail_name = a$$b", "mail_name", "a$b"},
		{"lone $ at end", "mail_name = cost$", "mail_name", "cost$"},
		{"$ before punctuation", "mail_name = $-x", "mail_name", "$-x"},
		{"unknown name", "whatever = 1", "whatever", "1"},
		{"unknown unset", "", "whatever", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(t, tt.text).Get(tt.param); got != tt.want {
				t.Errorf("Get(%q) = %q, want %q", tt.param, got, tt.want)
			}
		})
	}
}

func TestRawAndIsSet(t *testing.T) {
	c := parse(t, "mail_name = $a\n")
	tests := []struct {
		param, raw string
		set        bool
	}{
		{"mail_name", "$a", true},
		{"smtpd_banner", "$myhostname ESMTP $mail_name", false},
		{"myhostname", "mail.example.org", false},
		{"mydomain", "example.org", false},
		{"nonexistent", "", false},
	}
	for _, tt := range tests {
		if got := c.Raw(tt.param); got != tt.raw {
			t.Errorf("Raw(%q) = %q, want %q", tt.param, got, tt.raw)
		}
		if got := c.IsSet(tt.param); got != tt.set {
			t.Errorf("IsSet(%q) = %v, want %v", tt.param, got, tt.set)
		}
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a,b c\td ,, e", []string{"a", "b", "c", "d", "e"}},
		{" a , b ", []string{"a", "b"}},
		{"texthash:/x, inline:{a=b, { c = d e }}", []string{"texthash:/x", "inline:{a=b, { c = d e }}"}},
	}
	for _, tt := range tests {
		c := parse(t, "relay_domains = "+tt.value)
		if diff := cmp.Diff(tt.want, c.List("relay_domains")); diff != "" {
			t.Errorf("List(%q) mismatch (-want +got):\n%s", tt.value, diff)
		}
	}
}

func TestTypedGetters(t *testing.T) {
	c := parse(t, `soft_bounce = yes
disable_vrfy_command = NO
message_size_limit = 52428800
smtpd_recipient_limit = 7
smtpd_timeout = 5m
queue_run_delay = 90
delay_warning_time = 4
maximal_queue_lifetime = 2
bounce_queue_lifetime = 1w
minimal_backoff_time = 2h
command_time_limit = 0
`)
	if !c.Bool("soft_bounce") || c.Bool("disable_vrfy_command") || !c.Bool("smtpd_forbid_bare_newline") {
		t.Errorf("Bool: soft_bounce=%v disable_vrfy_command=%v smtpd_forbid_bare_newline=%v",
			c.Bool("soft_bounce"), c.Bool("disable_vrfy_command"), c.Bool("smtpd_forbid_bare_newline"))
	}
	ints := map[string]int64{"message_size_limit": 52428800, "smtpd_recipient_limit": 7, "hopcount_limit": 50}
	for n, want := range ints {
		if got := c.Int(n); got != want {
			t.Errorf("Int(%q) = %d, want %d", n, got, want)
		}
	}
	day := 24 * time.Hour
	durations := map[string]time.Duration{
		"smtpd_timeout":          5 * time.Minute,
		"queue_run_delay":        90 * time.Second,
		"delay_warning_time":     4 * time.Hour, // bare number: hours
		"maximal_queue_lifetime": 2 * day,       // bare number: days
		"bounce_queue_lifetime":  7 * day,
		"minimal_backoff_time":   2 * time.Hour,
		"maximal_backoff_time":   4000 * time.Second,
		"command_time_limit":     0,
		"smtpd_shutdown_timeout": 30 * time.Second,
	}
	for n, want := range durations {
		if got := c.Duration(n); got != want {
			t.Errorf("Duration(%q) = %v, want %v", n, got, want)
		}
	}
}

// TestDefaultsValid checks that every default of the table parses as its
// kind, expands without error and that the table is sorted and complete.
func TestDefaultsValid(t *testing.T) {
	c := parse(t, "")
	ps := Params()
	for i, p := range ps {
		if i > 0 && ps[i-1].Name >= p.Name {
			t.Errorf("Params not sorted or duplicated at %q", p.Name)
		}
		if p.Doc == "" || p.Kind == "" {
			t.Errorf("%s: missing Doc or Kind", p.Name)
		}
		if (p.Kind == KindTime) != (p.Unit != "") {
			t.Errorf("%s: Unit %q for kind %s", p.Name, p.Unit, p.Kind)
		}
		if err := c.checkValue(p.Name, c.Get(p.Name)); err != nil {
			t.Errorf("default of %s: %v", p.Name, err)
		}
	}
}

func TestParamsNotShared(t *testing.T) {
	ps := Params()
	ps[0].Default = "changed"
	if Params()[0].Default == "changed" {
		t.Error("Params returned shared storage")
	}
}

// TestStartupErrors pins the exact error of each broken configuration.
func TestStartupErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"foo bar", `main.cf:1: missing '=' in "foo bar"`},
		{"# c\n\nmail_name = x\nfoo bar", `main.cf:4: missing '=' in "foo bar"`},
		{"= value", `main.cf:1: missing parameter name in "= value"`},
		{"my name = x", `main.cf:1: bad parameter name "my name"`},
		{"  mail_name = x", `main.cf:1: continuation line before any parameter`},
		{"# c\n\tx", `main.cf:2: continuation line before any parameter`},
		{"soft_bounce = maybe", `main.cf:1: soft_bounce: bad boolean value "maybe" (want yes or no)`},
		{"soft_bounce = true", `main.cf:1: soft_bounce: bad boolean value "true" (want yes or no)`},
		{"message_size_limit = 10M", `main.cf:1: message_size_limit: bad integer value "10M"`},
		{"hopcount_limit = -1", `main.cf:1: hopcount_limit: bad integer value "-1"`},
		{"hopcount_limit =", `main.cf:1: hopcount_limit: bad integer value ""`},
		{"smtpd_timeout = 5x", `main.cf:1: smtpd_timeout: bad time value "5x" (want a number with an optional unit s, m, h, d or w)`},
		{"smtpd_timeout = s", `main.cf:1: smtpd_timeout: bad time value "s" (want a number with an optional unit s, m, h, d or w)`},
		{"smtpd_timeout = 99999999999999999w", `main.cf:1: smtpd_timeout: time value "99999999999999999w" is too large`},
		{"mynetworks = 10.0.0.0/33", `main.cf:1: mynetworks: bad network "10.0.0.0/33"`},
		{"mynetworks = 127.0.0.0/8 10.1.2.3/8", `main.cf:1: mynetworks: bad network "10.1.2.3/8": host bits set, perhaps 10.0.0.0/8`},
		{"mynetworks = example.org", `main.cf:1: mynetworks: bad network "example.org"`},
		{"mynetworks_style = office", `main.cf:1: mynetworks_style: bad value "office" (want one of: host, subnet, class)`},
		{"smtpd_tls_security_level = must", `main.cf:1: smtpd_tls_security_level: bad value "must" (want one of: none, may, encrypt)`},
		{"relayhost = [relay.example", `main.cf:1: relayhost: bad relayhost "[relay.example": missing ']'`},
		{"relayhost = relay.example:smtpx", `main.cf:1: relayhost: bad relayhost "relay.example:smtpx": bad port "smtpx"`},
		{"smtpd_listen = 127.0.0.1", `main.cf:1: smtpd_listen: bad address "127.0.0.1" (want host:port)`},
		{"smtpd_listen = 127.0.0.1:99999", `main.cf:1: smtpd_listen: bad port in "127.0.0.1:99999"`},
		{"x = 1\nsoft_bounce = $x", `main.cf:2: soft_bounce: bad boolean value "1" (want yes or no)`},
		{"a = $b\nb = $a", `main.cf:1: parameter "a": expansion loop a -> b -> a`},
		{"a = x\nb = $b", `main.cf:2: parameter "b": expansion loop b -> b`},
		{"mail_name = $smtpd_banner", `main.cf:1: parameter "mail_name": expansion loop mail_name -> smtpd_banner -> mail_name`},
		{"mail_name = ${foo", `main.cf:1: parameter "mail_name": missing '}' in "${foo"`},
		{"mail_name = $(foo", `main.cf:1: parameter "mail_name": missing ')' in "$(foo"`},
		{"mail_name = ${}", `main.cf:1: parameter "mail_name": missing parameter name in "${}"`},
		{"mail_name = ${a!b}", `main.cf:1: parameter "mail_name": bad parameter name in "${a!b}"`},
		{"x = ${y\nmail_name = $x", `main.cf:1: parameter "x": missing '}' in "${y"`},
		{"soft_bounce = maybe\nhopcount_limit = x", `main.cf:1: soft_bounce: bad boolean value "maybe" (want yes or no)`},
		{"mail_name = " + strings.Repeat("x", maxLine+1), `main.cf:1: line longer than 1048576 bytes`},
	}
	for _, tt := range tests {
		_, _, err := Parse("main.cf", strings.NewReader(tt.text), Options{})
		if err == nil {
			t.Errorf("Parse(%.40q) succeeded, want %s", tt.text, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%.40q) error\n got %s\nwant %s", tt.text, err, tt.want)
		}
		var le *LineError
		if !errors.As(err, &le) || le.File != "main.cf" {
			t.Errorf("Parse(%.40q) error is not a *LineError for main.cf: %#v", tt.text, err)
		}
	}
}

func TestWarnings(t *testing.T) {
	text := "mail_name = x\nfoo = 1\n\n# c\nbar_baz = $foo\n"
	_, ws, err := Parse("/etc/facteur/main.cf", strings.NewReader(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`/etc/facteur/main.cf:2: unknown parameter "foo"`,
		`/etc/facteur/main.cf:5: unknown parameter "bar_baz"`,
	}
	var got []string
	for _, w := range ws {
		got = append(got, w.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings mismatch (-want +got):\n%s", diff)
	}
	if ws[1] != (Warning{File: "/etc/facteur/main.cf", Line: 5, Msg: `unknown parameter "bar_baz"`}) {
		t.Errorf("warning fields: %#v", ws[1])
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(path, []byte("mail_name = Poste\nmynetworks = cidr:nets\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load(path, Options{Hostname: "h.example"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != path || c.Dir() != dir || c.Get("mail_name") != "Poste" {
		t.Errorf("Path=%q Dir=%q mail_name=%q", c.Path(), c.Dir(), c.Get("mail_name"))
	}
	if got, want := c.ResolveSpec("texthash:virtual"), "texthash:"+filepath.Join(dir, "virtual"); got != want {
		t.Errorf("ResolveSpec = %q, want %q", got, want)
	}
	if got := c.ResolveSpec("inline:{a=b}"); got != "inline:{a=b}" {
		t.Errorf("ResolveSpec(inline) = %q", got)
	}
	if got := c.ResolveSpec("/etc/aliases"); got != "/etc/aliases" {
		t.Errorf("ResolveSpec(absolute) = %q", got)
	}
	_, _, err = Load(filepath.Join(dir, "missing.cf"), Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.cf")
	os.WriteFile(bad, []byte("\nsoft_bounce = 2\n"), 0o600)
	if _, _, err := Load(bad, Options{}); err == nil || err.Error() != bad+`:2: soft_bounce: bad boolean value "2" (want yes or no)` {
		t.Errorf("Load(bad) = %v", err)
	}
}

func TestEmbeddedDefault(t *testing.T) {
	c, ws, err := Load("", Options{Hostname: "ignored.example"})
	if err != nil || len(ws) != 0 {
		t.Fatalf("Load(\"\") = %v, %v", ws, err)
	}
	if c.Path() != "" {
		t.Errorf("Path() = %q, want empty", c.Path())
	}
	var b strings.Builder
	if err := c.Print(&b, nil, true); err != nil {
		t.Fatal(err)
	}
	want := `data_directory = ./facteur-data
imap_listen = 127.0.0.1:2143
imaps_listen = 127.0.0.1:2993
mydestination = localhost
myhostname = localhost
pop3_listen = 127.0.0.1:2110
pop3s_listen = 127.0.0.1:2995
smtpd_listen = 127.0.0.1:2525
submission_listen = 127.0.0.1:2587
submissions_listen = 127.0.0.1:2465
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("config -n on the embedded default (-want +got):\n%s", diff)
	}
	if got := c.Get("smtpd_banner"); got != "localhost ESMTP facteur" {
		t.Errorf("banner = %q", got)
	}
}

func TestPrint(t *testing.T) {
	c := parse(t, "mail_name = Poste\nzz_custom = 1\nrelayhost =\n")
	tests := []struct {
		names   []string
		onlySet bool
		want    string
	}{
		{nil, true, "mail_name = Poste\nrelayhost =\nzz_custom = 1\n"},
		{[]string{"smtpd_banner", "mail_name"}, false, "mail_name = Poste\nsmtpd_banner = mail.example.org ESMTP Poste\n"},
		{[]string{"smtpd_banner", "mail_name"}, true, "mail_name = Poste\n"},
		{[]string{"zz_custom"}, false, "zz_custom = 1\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		if err := c.Print(&b, tt.names, tt.onlySet); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, b.String()); diff != "" {
			t.Errorf("Print(%v, %v) (-want +got):\n%s", tt.names, tt.onlySet, diff)
		}
	}
	var all strings.Builder
	c.Print(&all, nil, false)
	if n := strings.Count(all.String(), "\n"); n != len(Params())+1 {
		t.Errorf("Print printed %d lines, want %d", n, len(Params())+1)
	}
	if err := c.Print(&all, []string{"mail_name", "nosuch"}, false); err == nil || err.Error() != `unknown parameter "nosuch"` {
		t.Errorf("Print(unknown) = %v", err)
	}
}

func TestExpansionBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0 = xxxxxxxxxxxxxxxx\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "a%d = $a%d$a%d\n", i, i-1, i-1)
	}
	_, _, err := Parse("main.cf", strings.NewReader(b.String()), Options{})
	want := `main.cf:18: parameter "a17": value longer than 1048576 bytes after expansion`
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v, want %s", err, want)
	}
}
