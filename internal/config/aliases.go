package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Aliases is an alias table in aliases(5) form: local name → targets.
// Targets are addresses, bare local names, "/path" (an mbox file) and
// "|command"; :include: files are already expanded.
type Aliases struct {
	m map[string][]string // lower-cased name → targets
}

// Lookup returns the targets of name, compared case-insensitively.
func (a *Aliases) Lookup(name string) (targets []string, found bool) {
	if a == nil {
		return nil, false
	}
	t, ok := a.m[strings.ToLower(name)]
	return slices.Clone(t), ok
}

// Names returns the alias names, lower-cased and sorted.
func (a *Aliases) Names() []string {
	if a == nil {
		return nil
	}
	out := make([]string, 0, len(a.m))
	for n := range a.m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// add records name unless an earlier entry or map defined it: the first
// definition wins, as with Postfix's postalias and alias_maps.
func (a *Aliases) add(name string, targets []string) {
	if _, dup := a.m[name]; !dup {
		a.m[name] = targets
	}
}

// ReadAliases reads an aliases file.
func ReadAliases(path string) (*Aliases, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading aliases: %w", err)
	}
	return ParseAliases(path, bytes.NewReader(data))
}

// ParseAliases reads aliases(5) text: "name: target, target", continuation
// lines that start with white space, '#' comment lines. A :include:FILE
// target is replaced by the targets in FILE, relative to name's directory.
func ParseAliases(name string, r io.Reader) (*Aliases, error) {
	lines, err := readLogical(name, r, "alias")
	if err != nil {
		return nil, err
	}
	a := &Aliases{m: map[string][]string{}}
	inc := &includer{dir: filepath.Dir(name), stack: []string{name}}
	for _, l := range lines {
		key, rhs, err := splitAlias(l.text)
		if err != nil {
			return nil, &LineError{File: name, Line: l.line, Err: err}
		}
		targets, err := inc.expand(splitTargets(rhs))
		if err != nil {
			return nil, &LineError{File: name, Line: l.line, Err: err}
		}
		if len(targets) == 0 {
			return nil, lineErrorf(name, l.line, "no targets for alias %q", key)
		}
		a.add(key, targets)
	}
	return a, nil
}

// splitAlias splits "name: targets"; the name may be quoted.
func splitAlias(text string) (name, rhs string, err error) {
	i := 0
	if text[0] == '"' {
		end := strings.IndexByte(text[1:], '"')
		if end < 0 {
			return "", "", fmt.Errorf("missing '\"' in %q", text)
		}
		i = end + 2
	}
	colon := strings.IndexByte(text[i:], ':')
	if colon < 0 {
		return "", "", fmt.Errorf("missing ':' in %q", text)
	}
	name = strings.TrimSpace(text[:i+colon])
	if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
		name = name[1 : len(name)-1]
	}
	if name == "" {
		return "", "", fmt.Errorf("missing alias name in %q", text)
	}
	return strings.ToLower(name), text[i+colon+1:], nil
}

// splitTargets splits a target list on commas outside double quotes and
// drops the quotes around a whole target ("|command with args").
func splitTargets(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] == '"' {
			quoted = !quoted
		}
		if i < len(s) && (s[i] != ',' || quoted) {
			continue
		}
		t := strings.TrimSpace(s[start:i])
		start = i + 1
		if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
			t = strings.TrimSpace(t[1 : len(t)-1])
		}
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

// includer expands :include: targets, guarding against loops.
type includer struct {
	dir   string
	stack []string // files being read, outermost first
}

// expand replaces each :include:FILE target by FILE's targets.
func (in *includer) expand(targets []string) ([]string, error) {
	var out []string
	for _, t := range targets {
		file, ok := cutPrefixFold(t, ":include:")
		if !ok {
			out = append(out, t)
			continue
		}
		more, err := in.read(strings.TrimSpace(file))
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// read returns the targets listed in an include file: comma-separated,
// any number per line, '#' comment lines (aliases(5) :include:).
func (in *includer) read(file string) ([]string, error) {
	if file == "" {
		return nil, errors.New("empty :include: file name")
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(in.dir, file)
	}
	if slices.Contains(in.stack, file) {
		return nil, fmt.Errorf(":include: loop: %s -> %s", strings.Join(in.stack, " -> "), file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf(":include: %w", err)
	}
	in.stack = append(in.stack, file)
	defer func() { in.stack = in.stack[:len(in.stack)-1] }()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		ts, err := in.expand(splitTargets(line))
		if err != nil {
			return nil, &LineError{File: file, Line: n, Err: err}
		}
		out = append(out, ts...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf(":include: reading %s: %w", file, err)
	}
	return out, nil
}

// OpenAliasMaps opens alias_maps: each entry "hash:FILE", "texthash:FILE",
// "aliases:FILE" or a bare path is read in aliases(5) form (there is no
// postmap: the source file is read directly), and "inline:{name=target,
// { name = target, target }}" works too. A name in an earlier map is not
// overridden by a later one. Relative paths are the caller's to resolve.
func OpenAliasMaps(specs []string) (*Aliases, error) {
	all := &Aliases{m: map[string][]string{}}
	for _, spec := range specs {
		a, err := openAliasMap(spec)
		if err != nil {
			return nil, err
		}
		for _, n := range a.Names() {
			all.add(n, a.m[n])
		}
	}
	return all, nil
}

func openAliasMap(spec string) (*Aliases, error) {
	typ, arg, ok := splitSpec(spec)
	if !ok {
		return ReadAliases(spec)
	}
	switch typ {
	case "hash", "texthash", "aliases", "btree", "lmdb", "dbm", "cdb":
		return ReadAliases(arg)
	case "inline":
		return inlineAliases(spec, arg)
	}
	return nil, fmt.Errorf("alias map %q: unsupported table type %q", spec, typ)
}

// inlineAliases reads an inline: table whose values are target lists.
func inlineAliases(spec, arg string) (*Aliases, error) {
	t, err := parseInline(spec, arg)
	if err != nil {
		return nil, err
	}
	a := &Aliases{m: map[string][]string{}}
	inc := &includer{dir: "."}
	for k, v := range t {
		targets, err := inc.expand(splitTargets(v))
		if err != nil {
			return nil, fmt.Errorf("alias map %q: %w", spec, err)
		}
		if len(targets) == 0 {
			return nil, fmt.Errorf("alias map %q: no targets for alias %q", spec, k)
		}
		a.add(k, targets)
	}
	return a, nil
}
