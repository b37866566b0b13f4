package config

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

//go:embed default.cf
var embeddedDefault []byte

// embeddedName is the file name in messages about the embedded default.
const embeddedName = "(embedded main.cf)"

// Options are what the configuration needs from the system.
type Options struct {
	Hostname string // system host name, myhostname's default
}

// Warning is a problem in a configuration file that does not stop start-up.
type Warning struct {
	File string
	Line int
	Msg  string
}

// String returns "FILE:LINE: msg".
func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg) }

// Config is a parsed configuration. It does not change after Parse and may
// be shared between goroutines.
type Config struct {
	path     string
	file     string            // name used in messages
	hostname string            // myhostname's default
	params   map[string]Param  // the table
	set      map[string]string // raw values from the file
	line     map[string]int    // where each set value was defined
	values   map[string]string // expanded values, every known and set name
}

// Load reads the configuration at path, or the embedded default when path
// is empty.
func Load(path string, opt Options) (*Config, []Warning, error) {
	if path == "" {
		return Parse(embeddedName, bytes.NewReader(embeddedDefault), opt)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading configuration: %w", err)
	}
	defer f.Close()
	c, ws, err := Parse(path, f, opt)
	if err != nil {
		return nil, nil, err
	}
	c.path = path
	return c, ws, nil
}

// Parse reads a main.cf from r; name is the file name used in messages.
// Every value is expanded and the typed ones checked here, so that a broken
// configuration stops start-up with "FILE:LINE: reason".
func Parse(name string, r io.Reader, opt Options) (*Config, []Warning, error) {
	c := &Config{
		file:     name,
		hostname: opt.Hostname,
		params:   paramIndex(),
		set:      map[string]string{},
		line:     map[string]int{},
	}
	if c.hostname == "" {
		c.hostname = "localhost"
	}
	lines, err := readLogical(name, r, "parameter")
	if err != nil {
		return nil, nil, err
	}
	var warnings []Warning
	for _, l := range lines {
		key, value, err := splitAssignment(l.text)
		if err != nil {
			return nil, nil, &LineError{File: name, Line: l.line, Err: err}
		}
		if _, known := c.params[key]; !known {
			warnings = append(warnings, Warning{name, l.line, fmt.Sprintf("unknown parameter %q", key)})
		}
		// A later definition replaces an earlier one, as in Postfix.
		c.set[key] = value
		c.line[key] = l.line
	}
	if err := c.expandAll(); err != nil {
		return nil, nil, err
	}
	if err := c.check(); err != nil {
		return nil, nil, err
	}
	return c, warnings, nil
}

// splitAssignment splits "name = value".
func splitAssignment(text string) (name, value string, err error) {
	name, value, ok := strings.Cut(text, "=")
	if !ok {
		return "", "", fmt.Errorf("missing '=' in %q", text)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", "", fmt.Errorf("missing parameter name in %q", text)
	}
	if !validName(name) {
		return "", "", fmt.Errorf("bad parameter name %q", name)
	}
	return name, strings.TrimSpace(value), nil
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return s != ""
}

func isNameByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// names returns every parameter the configuration knows: the table's and
// the unknown ones set in the file, sorted.
func (c *Config) names() []string {
	out := make([]string, 0, len(c.params)+len(c.set))
	for n := range c.params {
		out = append(out, n)
	}
	for n := range c.set {
		if _, ok := c.params[n]; !ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Path returns the configuration file's path, "" for the embedded default.
func (c *Config) Path() string { return c.path }

// Dir returns the directory that relative paths in the configuration are
// resolved against: the configuration file's, or "." for the embedded one.
func (c *Config) Dir() string {
	if c.path == "" {
		return "."
	}
	return filepath.Dir(c.path)
}

// IsSet reports whether name is set in the file.
func (c *Config) IsSet(name string) bool {
	_, ok := c.set[name]
	return ok
}

// Raw returns the unexpanded value: the file's, else the default.
func (c *Config) Raw(name string) string {
	if v, ok := c.set[name]; ok {
		return v
	}
	switch name {
	case "myhostname":
		return c.hostname
	case "mydomain":
		return domainOf(c.Get("myhostname"))
	}
	return c.params[name].Default
}

// Get returns the fully expanded value of name; "" for an unknown name.
func (c *Config) Get(name string) string { return c.values[name] }

// List returns the expanded value split on commas and white space.
// Text inside braces stays in one element ("inline:{a=b, c=d}").
func (c *Config) List(name string) []string { return splitList(c.Get(name)) }

// Bool returns a yes/no value as a bool.
func (c *Config) Bool(name string) bool {
	b, _ := parseBool(c.Get(name))
	return b
}

// Int returns an int or size value.
func (c *Config) Int(name string) int64 {
	n, _ := parseInt(c.Get(name))
	return n
}

// Duration returns a time value, a bare number counting in the
// parameter's default unit.
func (c *Config) Duration(name string) time.Duration {
	d, _ := parseTime(c.Get(name), c.params[name].Unit)
	return d
}

// Resolve returns path relative to the configuration's directory, unless
// it is absolute.
func (c *Config) Resolve(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(c.Dir(), path)
}

// ResolveSpec resolves the file in a table specification ("texthash:FILE",
// "hash:FILE", "cidr:FILE" or a bare path) against the configuration's
// directory; inline: tables are returned unchanged.
func (c *Config) ResolveSpec(spec string) string {
	typ, arg, ok := splitSpec(spec)
	if !ok {
		return c.Resolve(spec)
	}
	if typ == "inline" {
		return spec
	}
	return typ + ":" + c.Resolve(arg)
}

// domainOf is mydomain's default: the host name minus its first label.
func domainOf(host string) string {
	if _, rest, ok := strings.Cut(host, "."); ok && rest != "" {
		return rest
	}
	return "localdomain"
}
