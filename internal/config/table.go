package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// Table is a lookup table, as Postfix's table types are: keys compare
// case-insensitively.
type Table interface {
	Lookup(key string) (value string, found bool, err error)
}

// mapTable is a table held in memory, keyed by lower-cased key.
type mapTable map[string]string

func (m mapTable) Lookup(key string) (string, bool, error) {
	v, ok := m[strings.ToLower(key)]
	return v, ok, nil
}

// splitSpec splits "type:argument"; ok is false for a bare path.
func splitSpec(spec string) (typ, arg string, ok bool) {
	typ, arg, ok = strings.Cut(spec, ":")
	if !ok || typ == "" {
		return "", spec, false
	}
	for i := 0; i < len(typ); i++ {
		if !isNameByte(typ[i]) {
			return "", spec, false
		}
	}
	return strings.ToLower(typ), arg, true
}

// OpenTable opens one table: "texthash:FILE" (also "hash:FILE", "btree:FILE"
// and "lmdb:FILE", whose source file is read directly since facteur has no
// postmap), "inline:{k1=v1, { k2 = text with spaces }}" or "cidr:FILE".
// Relative paths are the caller's to resolve (Config.ResolveSpec).
func OpenTable(spec string) (Table, error) {
	typ, arg, ok := splitSpec(spec)
	if !ok {
		return nil, fmt.Errorf("table %q: missing type (want texthash:FILE, inline:{...} or cidr:FILE)", spec)
	}
	switch typ {
	case "texthash", "hash", "btree", "lmdb", "dbm", "cdb":
		return readTextHash(arg)
	case "inline":
		return parseInline(spec, arg)
	case "cidr":
		return readCIDR(arg)
	}
	return nil, fmt.Errorf("table %q: unsupported table type %q", spec, typ)
}

// tableList searches tables in order; the first match wins.
type tableList []Table

func (l tableList) Lookup(key string) (string, bool, error) {
	for _, t := range l {
		v, ok, err := t.Lookup(key)
		if err != nil || ok {
			return v, ok, err
		}
	}
	return "", false, nil
}

// OpenTables opens a list of tables searched in order, as Postfix does for
// a parameter that names several: the first match wins.
func OpenTables(specs []string) (Table, error) {
	l := make(tableList, 0, len(specs))
	for _, s := range specs {
		t, err := OpenTable(s)
		if err != nil {
			return nil, err
		}
		l = append(l, t)
	}
	return l, nil
}

// readTextHash reads a texthash file: "key value" per logical line,
// comments and continuation lines as in main.cf. The first entry for a key
// wins, as postmap's does.
func readTextHash(path string) (mapTable, error) {
	lines, err := readTableFile(path)
	if err != nil {
		return nil, err
	}
	m := mapTable{}
	for _, l := range lines {
		i := strings.IndexAny(l.text, " \t")
		if i < 0 {
			return nil, lineErrorf(path, l.line, "missing value for key %q", l.text)
		}
		key := strings.ToLower(l.text[:i])
		if _, dup := m[key]; !dup {
			m[key] = strings.TrimSpace(l.text[i:])
		}
	}
	return m, nil
}

// parseInline reads an inline table (postconf(5) "inline"):
// {k1=v1, k2=v2, { k3 = text with spaces or commas }}.
func parseInline(spec, arg string) (mapTable, error) {
	entries, err := inlineEntries(arg)
	if err != nil {
		return nil, fmt.Errorf("table %q: %w", spec, err)
	}
	m := mapTable{}
	for _, e := range entries {
		k, v, ok := strings.Cut(e, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("table %q: missing key=value in %q", spec, e)
		}
		if _, dup := m[strings.ToLower(k)]; !dup {
			m[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return m, nil
}

// inlineEntries returns the entries of "{...}", braces removed from the
// entries that had them.
func inlineEntries(arg string) ([]string, error) {
	arg = strings.TrimSpace(arg)
	if len(arg) < 2 || arg[0] != '{' || matching(arg, 0, '{', '}') != len(arg)-1 {
		return nil, errors.New("want {key=value, ...}")
	}
	var out []string
	for _, e := range splitList(arg[1 : len(arg)-1]) {
		if e[0] == '{' {
			if matching(e, 0, '{', '}') != len(e)-1 {
				return nil, fmt.Errorf("unbalanced braces in %q", e)
			}
			e = strings.TrimSpace(e[1 : len(e)-1])
		}
		out = append(out, e)
	}
	return out, nil
}

// cidrEntry is one line of a cidr table.
type cidrEntry struct {
	net    netip.Prefix
	result string
}

// cidrTable matches an address against networks, first match wins
// (cidr_table(5)).
type cidrTable []cidrEntry

func (t cidrTable) Lookup(key string) (string, bool, error) {
	a, err := netip.ParseAddr(strings.Trim(key, "[]"))
	if err != nil {
		return "", false, nil // not an address: no match
	}
	a = a.Unmap()
	for _, e := range t {
		if e.net.Contains(a) {
			return e.result, true, nil
		}
	}
	return "", false, nil
}

// readCIDR reads a cidr table: "network/prefix result" or "address
// result" per line. The result may be omitted where only a match counts
// (mynetworks).
func readCIDR(path string) (cidrTable, error) {
	lines, err := readTableFile(path)
	if err != nil {
		return nil, err
	}
	var t cidrTable
	for _, l := range lines {
		pat, result, _ := strings.Cut(strings.ReplaceAll(l.text, "\t", " "), " ")
		p, err := parseNetwork(pat)
		if err != nil {
			return nil, &LineError{File: path, Line: l.line, Err: err}
		}
		t = append(t, cidrEntry{net: p, result: strings.TrimSpace(result)})
	}
	return t, nil
}

// readTableFile reads the logical lines of a table's source file.
func readTableFile(path string) ([]logicalLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening table: %w", err)
	}
	defer f.Close()
	return readLogical(path, f, "entry")
}
