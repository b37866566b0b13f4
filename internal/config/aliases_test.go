package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAliases(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "staff", "# staff list\nann, bob\n\ncarl@example.net\n:include:more\n")
	writeFile(t, dir, "more", "dan\n")
	text := `# /etc/aliases
postmaster: root
Root: toto,
	titi@example.org
	, "|/usr/bin/vacation -a toto"
mbox: /var/mail/archive
pipe: |/bin/cat
"quoted name": toto
staff: :include:staff, eve
both: :INCLUDE:` + filepath.Join(dir, "more") + `
postmaster: ignored, the first definition wins
`
	a, err := ParseAliases(filepath.Join(dir, "aliases"), strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		want  []string
		found bool
	}{
		{"postmaster", []string{"root"}, true},
		{"ROOT", []string{"toto", "titi@example.org", "|/usr/bin/vacation -a toto"}, true},
		{"mbox", []string{"/var/mail/archive"}, true},
		{"pipe", []string{"|/bin/cat"}, true},
		{"Quoted Name", []string{"toto"}, true},
		{"staff", []string{"ann", "bob", "carl@example.net", "dan", "eve"}, true},
		{"both", []string{"dan"}, true},
		{"nobody", nil, false},
	}
	for _, tt := range tests {
		got, ok := a.Lookup(tt.name)
		if ok != tt.found {
			t.Errorf("Lookup(%q) found = %v, want %v", tt.name, ok, tt.found)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Lookup(%q) (-want +got):\n%s", tt.name, diff)
		}
	}
	got, _ := a.Lookup("root")
	got[0] = "changed"
	if again, _ := a.Lookup("root"); again[0] != "toto" {
		t.Error("Lookup returned shared storage")
	}
	wantNames := []string{"both", "mbox", "pipe", "postmaster", "quoted name", "root", "staff"}
	if diff := cmp.Diff(wantNames, a.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
}

func TestAliasesErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "self", ":include:self\n")
	writeFile(t, dir, "ping", "a\n:include:pong\n")
	writeFile(t, dir, "pong", ":include:ping\n")
	aliases := filepath.Join(dir, "aliases")
	self, ping, pong := filepath.Join(dir, "self"), filepath.Join(dir, "ping"), filepath.Join(dir, "pong")
	tests := []struct{ text, want string }{
		{"root toto", aliases + `:1: missing ':' in "root toto"`},
		{"# c\n: toto", aliases + `:2: missing alias name in ": toto"`},
		{"root:", aliases + `:1: no targets for alias "root"`},
		{"root: , ,", aliases + `:1: no targets for alias "root"`},
		{`"root: toto`, aliases + `:1: missing '"' in "\"root: toto"`},
		{" toto", aliases + `:1: continuation line before any alias`},
		{"a: b\nloop: :include:self", aliases + ":2: " + self + ":1: :include: loop: " + aliases + " -> " + self + " -> " + self},
		{"loop: :include:ping", aliases + ":1: " + ping + ":2: " + pong + ":1: :include: loop: " + aliases + " -> " + ping + " -> " + pong + " -> " + ping},
		{"x: :include:", aliases + `:1: empty :include: file name`},
	}
	for _, tt := range tests {
		_, err := ParseAliases(aliases, strings.NewReader(tt.text))
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseAliases(%q)\n got %v\nwant %s", tt.text, err, tt.want)
		}
	}
	_, err := ParseAliases(aliases, strings.NewReader("x: :include:absent"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), aliases+":1: :include: open ") {
		t.Errorf("missing include: %v", err)
	}
	if _, err := ReadAliases(filepath.Join(dir, "nosuch")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadAliases(missing) = %v", err)
	}
}

func TestOpenAliasMaps(t *testing.T) {
	dir := t.TempDir()
	first := writeFile(t, dir, "first", "root: toto\nabuse: root\n")
	second := writeFile(t, dir, "second", "root: overridden\nwebmaster: www\n")
	third := writeFile(t, dir, "third", "info: sales\n")
	a, err := OpenAliasMaps([]string{
		"hash:" + first, second, "aliases:" + third,
		"inline:{ { postmaster = root, abuse } info=ignored }",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"root":       {"toto"},
		"abuse":      {"root"},
		"webmaster":  {"www"},
		"info":       {"sales"},
		"postmaster": {"root", "abuse"},
	}
	for name, targets := range want {
		got, ok := a.Lookup(name)
		if !ok || !cmp.Equal(got, targets) {
			t.Errorf("Lookup(%q) = %v, %v; want %v", name, got, ok, targets)
		}
	}
	none, err := OpenAliasMaps(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := none.Lookup("root"); ok {
		t.Error("empty alias_maps found root")
	}
	var nilAliases *Aliases
	if _, ok := nilAliases.Lookup("root"); ok {
		t.Error("nil Aliases found root")
	}
	errs := []struct{ spec, want string }{
		{"ldap:x", `alias map "ldap:x": unsupported table type "ldap"`},
		{"inline:{a=}", `alias map "inline:{a=}": no targets for alias "a"`},
		{"inline:{a", `table "inline:{a": want {key=value, ...}`},
	}
	for _, tt := range errs {
		if _, err := OpenAliasMaps([]string{tt.spec}); err == nil || err.Error() != tt.want {
			t.Errorf("OpenAliasMaps(%q) = %v, want %s", tt.spec, err, tt.want)
		}
	}
}
