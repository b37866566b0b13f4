package config

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no main.cf makes Parse panic, and that an accepted
// one can be printed and read through every getter.
func FuzzParse(f *testing.F) {
	f.Add("myhostname = mail.example.org\nmydestination = $myhostname, ${a?x} $(b:y)\n  localhost\n")
	f.Add("a = $b\nb = $a\n")
	f.Add("soft_bounce = maybe\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, ws, err := Parse("main.cf", strings.NewReader(text), Options{Hostname: "h.example"})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "main.cf:") {
				t.Fatalf("error without FILE:LINE: %v", err)
			}
			return
		}
		for _, w := range ws {
			if !strings.HasPrefix(w.String(), "main.cf:") {
				t.Fatalf("warning without FILE:LINE: %v", w)
			}
		}
		if err := c.Print(io.Discard, nil, false); err != nil {
			t.Fatal(err)
		}
		for _, p := range Params() {
			c.Raw(p.Name)
			c.List(p.Name)
			c.Bool(p.Name)
			c.Int(p.Name)
			c.Duration(p.Name)
		}
	})
}

// FuzzAliases checks that no aliases file makes ParseAliases panic, and
// that every accepted alias has targets.
func FuzzAliases(f *testing.F) {
	f.Add("root: toto, titi@example.org\n\t\"|/bin/cat -u\"\nmbox: /var/mail/x\n")
	f.Add("\"quoted: name\": a, \"b, c\"\n# comment\n")
	f.Add("x: :include:nothing\n")
	f.Fuzz(func(t *testing.T, text string) {
		a, err := ParseAliases(filepath.Join(t.TempDir(), "aliases"), strings.NewReader(text))
		if err != nil {
			return
		}
		for _, n := range a.Names() {
			if ts, ok := a.Lookup(n); !ok || len(ts) == 0 {
				t.Fatalf("alias %q: %v, %v", n, ts, ok)
			}
		}
	})
}
