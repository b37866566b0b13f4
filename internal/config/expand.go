package config

import (
	"fmt"
	"strings"
)

// exprError is an expansion problem attributed to one parameter.
type exprError struct {
	param string
	msg   string
}

func (e *exprError) Error() string { return fmt.Sprintf("parameter %q: %s", e.param, e.msg) }

// expander expands parameter values with memoisation and loop detection.
type expander struct {
	c      *Config
	done   map[string]string
	active map[string]bool
	stack  []string
}

// expandAll fills c.values with the expanded value of every name.
func (c *Config) expandAll() error {
	e := &expander{c: c, done: map[string]string{}, active: map[string]bool{}}
	for _, name := range c.names() {
		if _, err := e.param(name); err != nil {
			return c.locate(err)
		}
	}
	c.values = e.done
	return nil
}

// locate turns an expansion error into "FILE:LINE: ..." at the line of
// the parameter it names.
func (c *Config) locate(err error) error {
	if ee, ok := err.(*exprError); ok {
		return &LineError{File: c.file, Line: c.line[ee.param], Err: ee}
	}
	return err
}

// param returns the expanded value of name.
func (e *expander) param(name string) (string, error) {
	if v, ok := e.done[name]; ok {
		return v, nil
	}
	if e.active[name] {
		return "", e.loop(name)
	}
	e.active[name] = true
	e.stack = append(e.stack, name)
	defer func() {
		delete(e.active, name)
		e.stack = e.stack[:len(e.stack)-1]
	}()
	raw, ok := e.c.set[name]
	switch {
	case ok:
	case name == "mydomain":
		host, err := e.param("myhostname")
		if err != nil {
			return "", err
		}
		raw = domainOf(host)
	case name == "myhostname":
		raw = e.c.hostname
	default:
		raw = e.c.params[name].Default
	}
	v, err := e.expand(raw)
	if err != nil {
		if _, ok := err.(*exprError); !ok {
			err = &exprError{param: name, msg: err.Error()}
		}
		return "", err
	}
	e.done[name] = v
	return v, nil
}

// loop reports the cycle that returns to name, attributed to its first
// parameter that is set in the file (defaults alone never loop).
func (e *expander) loop(name string) error {
	start := len(e.stack) - 1
	for e.stack[start] != name {
		start--
	}
	cycle := append(append([]string{}, e.stack[start:]...), name)
	at := name
	for _, n := range cycle {
		if _, ok := e.c.set[n]; ok {
			at = n
			break
		}
	}
	return &exprError{param: at, msg: "expansion loop " + strings.Join(cycle, " -> ")}
}

// expand replaces the $ references in s (postconf(5) "Parameter
// expansion"): $name, ${name}, $(name), ${name?value} (value when name is
// not empty), ${name:value} (value when name is empty), their {value}
// forms and ${name?{value1}:{value2}}, and $$ for a literal $. An
// undefined name expands to nothing.
func (e *expander) expand(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		i += j
		v, n, err := e.reference(s[i:])
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i += n
		if b.Len() > maxLine {
			// Each $a$a doubles: bound what a few lines can build.
			return "", fmt.Errorf("value longer than %d bytes after expansion", maxLine)
		}
	}
	return b.String(), nil
}

// reference expands the reference at the start of s (which starts with
// '$') and returns its value and length.
func (e *expander) reference(s string) (string, int, error) {
	if len(s) < 2 {
		return "$", 1, nil // a lone $ at the end stays
	}
	switch s[1] {
	case '$':
		return "$", 2, nil
	case '{', '(':
		return e.braced(s)
	}
	n := 1
	for n < len(s) && isNameByte(s[n]) {
		n++
	}
	if n == 1 {
		return "$", 1, nil // "$" before something that is not a name
	}
	v, err := e.param(s[1:n])
	return v, n, err
}

// braced expands ${...} or $(...), with the ?value and :value forms.
func (e *expander) braced(s string) (string, int, error) {
	closer := byte('}')
	if s[1] == '(' {
		closer = ')'
	}
	end := matching(s, 1, s[1], closer)
	if end < 0 {
		return "", 0, fmt.Errorf("missing '%c' in %q", closer, s)
	}
	inner := s[2:end]
	n := 0
	for n < len(inner) && isNameByte(inner[n]) {
		n++
	}
	name, rest := inner[:n], inner[n:]
	if name == "" {
		return "", 0, fmt.Errorf("missing parameter name in %q", s[:end+1])
	}
	if rest != "" && rest[0] != '?' && rest[0] != ':' {
		return "", 0, fmt.Errorf("bad parameter name in %q", s[:end+1])
	}
	v, err := e.param(name)
	if err != nil || rest == "" {
		return v, end + 1, err
	}
	ifSet, ifEmpty := conditional(rest)
	if v != "" {
		v, err = e.expand(ifSet)
	} else {
		v, err = e.expand(ifEmpty)
	}
	return v, end + 1, err
}

// conditional splits what follows the name in ${name?value},
// ${name:value}, and Postfix 3.0's ${name?{value}}, ${name:{value}} and
// ${name?{value1}:{value2}} (postconf(5) "Parameter expansion") into the
// text for a non-empty and for an empty name.
func conditional(rest string) (ifSet, ifEmpty string) {
	op, text := rest[0], rest[1:]
	first, after, braced := cutBraced(text)
	after = strings.TrimSpace(after)
	value := text // anything else is literal text
	switch {
	case braced && after == "":
		value = first
	case braced && op == '?' && strings.HasPrefix(after, ":"):
		second, tail, ok := cutBraced(strings.TrimSpace(after[1:]))
		if ok && strings.TrimSpace(tail) == "" {
			return first, second
		}
	}
	if op == '?' {
		return value, ""
	}
	return "", value
}

// cutBraced splits "{inner}after" at the brace that closes the first one.
func cutBraced(s string) (inner, after string, ok bool) {
	if !strings.HasPrefix(s, "{") {
		return "", s, false
	}
	end := matching(s, 0, '{', '}')
	if end < 0 {
		return "", s, false
	}
	return s[1:end], s[end+1:], true
}

// matching returns the index of the closer that balances the opener at
// s[at], or -1.
func matching(s string, at int, opener, closer byte) int {
	depth := 0
	for i := at; i < len(s); i++ {
		switch s[i] {
		case opener:
			depth++
		case closer:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
