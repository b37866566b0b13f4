package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type lookupCase struct {
	key, value string
	found      bool
}

func checkLookups(t *testing.T, tb Table, cases []lookupCase) {
	t.Helper()
	for _, c := range cases {
		v, ok, err := tb.Lookup(c.key)
		if err != nil || v != c.value || ok != c.found {
			t.Errorf("Lookup(%q) = %q, %v, %v; want %q, %v", c.key, v, ok, err, c.value, c.found)
		}
	}
}

func TestTextHash(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "virtual", `# virtual aliases
toto@example.org   toto
Info@Example.ORG	a@example.net,
   b@example.net
@example.com catchall
toto@example.org   second definition ignored
`)
	for _, spec := range []string{"texthash:" + p, "hash:" + p} {
		tb, err := OpenTable(spec)
		if err != nil {
			t.Fatal(err)
		}
		checkLookups(t, tb, []lookupCase{
			{"toto@example.org", "toto", true},
			{"TOTO@example.org", "toto", true},
			{"info@example.org", "a@example.net, b@example.net", true},
			{"@example.com", "catchall", true},
			{"nobody@example.org", "", false},
		})
	}
}

func TestInline(t *testing.T) {
	tb, err := OpenTable("inline:{ a=1, B=2 { c = text with, comma } d= }")
	if err != nil {
		t.Fatal(err)
	}
	checkLookups(t, tb, []lookupCase{
		{"a", "1", true}, {"b", "2", true}, {"C", "text with, comma", true}, {"d", "", true}, {"e", "", false},
	})
}

func TestCIDRTable(t *testing.T) {
	p := writeFile(t, t.TempDir(), "clients", "192.0.2.0/24 OK\n2001:db8::/32\tv6\n[2001:db8:1::1] first wins\n198.51.100.7 one\n")
	tb, err := OpenTable("cidr:" + p)
	if err != nil {
		t.Fatal(err)
	}
	checkLookups(t, tb, []lookupCase{
		{"192.0.2.200", "OK", true},
		{"::ffff:192.0.2.1", "OK", true},
		{"2001:db8:1::1", "v6", true},
		{"198.51.100.7", "one", true},
		{"198.51.100.8", "", false},
		{"not-an-address", "", false},
	})
}

func TestOpenTables(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "t", "a from-file\nb from-file\n")
	tb, err := OpenTables([]string{"inline:{a=inline}", "texthash:" + p})
	if err != nil {
		t.Fatal(err)
	}
	checkLookups(t, tb, []lookupCase{{"a", "inline", true}, {"b", "from-file", true}, {"c", "", false}})
	empty, err := OpenTables(nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLookups(t, empty, []lookupCase{{"a", "", false}})
}

func TestTableErrors(t *testing.T) {
	dir := t.TempDir()
	nokey := writeFile(t, dir, "nokey", "# c\nlonely\n")
	cont := writeFile(t, dir, "cont", "  value\n")
	badnet := writeFile(t, dir, "badnet", "192.0.2.0/24 OK\n192.0.2.1/24 no\n")
	tests := []struct{ spec, want string }{
		{"texthash:" + nokey, nokey + `:2: missing value for key "lonely"`},
		{"texthash:" + cont, cont + `:1: continuation line before any entry`},
		{"cidr:" + badnet, badnet + `:2: bad network "192.0.2.1/24": host bits set, perhaps 192.0.2.0/24`},
		{"inline:{a=b", `table "inline:{a=b": want {key=value, ...}`},
		{"inline:{a=b}x", `table "inline:{a=b}x": want {key=value, ...}`},
		{"inline:{a}", `table "inline:{a}": missing key=value in "a"`},
		{"inline:{ =b }", `table "inline:{ =b }": missing key=value in "=b"`},
		{"ldap:/etc/ldap.cf", `table "ldap:/etc/ldap.cf": unsupported table type "ldap"`},
		{"/etc/virtual", `table "/etc/virtual": missing type (want texthash:FILE, inline:{...} or cidr:FILE)`},
	}
	for _, tt := range tests {
		_, err := OpenTable(tt.spec)
		if err == nil || err.Error() != tt.want {
			t.Errorf("OpenTable(%q) = %v, want %s", tt.spec, err, tt.want)
		}
	}
	if _, err := OpenTable("texthash:" + filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("OpenTable(missing) = %v", err)
	}
	if _, err := OpenTables([]string{"inline:{a=b}", "nosuch:x"}); err == nil {
		t.Error("OpenTables with a bad spec succeeded")
	}
}
