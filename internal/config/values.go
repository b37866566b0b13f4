package config

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// check validates the typed parameters set in the file, in file order, so
// that the first broken line is the one reported.
func (c *Config) check() error {
	names := make([]string, 0, len(c.set))
	for n := range c.set {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return c.line[a] - c.line[b] })
	for _, n := range names {
		if err := c.checkValue(n, c.values[n]); err != nil {
			return lineErrorf(c.file, c.line[n], "%s: %w", n, err)
		}
	}
	return nil
}

// enumValues lists the words a parameter may take; nil for a parameter
// that is not an enumeration.
func enumValues(name string) []string {
	switch name {
	case "mynetworks_style":
		return []string{"host", "subnet", "class"}
	case "smtpd_tls_security_level":
		return []string{"none", "may", "encrypt"}
	}
	return nil
}

// checkValue validates the expanded value v of parameter name.
func (c *Config) checkValue(name, v string) error {
	if words := enumValues(name); words != nil && !slices.Contains(words, v) {
		return fmt.Errorf("bad value %q (want one of: %s)", v, strings.Join(words[slices.Index(words, "")+1:], ", "))
	}
	var err error
	switch name {
	case "relayhost":
		_, err = ParseRelayhost(v)
		return err
	case "mynetworks":
		return checkNetworks(splitList(v))
	}
	p := c.params[name]
	switch p.Kind {
	case KindBool:
		_, err = parseBool(v)
	case KindInt, KindSize:
		_, err = parseInt(v)
	case KindTime:
		_, err = parseTime(v, p.Unit)
	case KindAddressList:
		err = checkListen(splitList(v))
	}
	return err
}

// parseBool accepts yes and no, in any case, as Postfix does.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, fmt.Errorf("bad boolean value %q (want yes or no)", s)
}

// parseInt accepts a non-negative decimal integer.
func parseInt(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("bad integer value %q", s)
	}
	return n, nil
}

// timeUnit returns the length of one of Postfix's time units
// (postconf(5) "time value"), or 0.
func timeUnit(u string) time.Duration {
	switch u {
	case "s":
		return time.Second
	case "m":
		return time.Minute
	case "h":
		return time.Hour
	case "d":
		return 24 * time.Hour
	case "w":
		return 7 * 24 * time.Hour
	}
	return 0
}

// parseTime reads a Postfix time value: a non-negative number with an
// optional unit s, m, h, d or w; a bare number counts in unit.
func parseTime(s, unit string) (time.Duration, error) {
	bad := fmt.Errorf("bad time value %q (want a number with an optional unit s, m, h, d or w)", s)
	num, u := s, unit
	if s != "" && (s[len(s)-1] < '0' || s[len(s)-1] > '9') {
		num, u = s[:len(s)-1], strings.ToLower(s[len(s)-1:])
	}
	if u == "" {
		u = "s"
	}
	mult := timeUnit(u)
	n, err := strconv.ParseInt(num, 10, 64)
	if mult == 0 || err != nil || n < 0 || strings.HasPrefix(num, "+") {
		return 0, bad
	}
	if n > math.MaxInt64/int64(mult) {
		return 0, fmt.Errorf("time value %q is too large", s)
	}
	return time.Duration(n) * mult, nil
}

// checkListen validates host:port listen addresses.
func checkListen(list []string) error {
	for _, a := range list {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("bad address %q (want host:port)", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("bad port in %q", a)
		}
	}
	return nil
}

// checkNetworks validates the inline entries of mynetworks; cidr: files
// are read when the list is used.
func checkNetworks(list []string) error {
	for _, s := range list {
		if strings.HasPrefix(s, "cidr:") {
			continue
		}
		if _, err := parseNetwork(s); err != nil {
			return err
		}
	}
	return nil
}

// splitList splits a list value on commas and white space, keeping text
// inside braces together.
func splitList(s string) []string {
	var out []string
	depth, start := 0, -1
	for i := 0; i <= len(s); i++ {
		sep := i == len(s)
		if !sep {
			switch s[i] {
			case '{':
				depth++
			case '}':
				depth = max(depth-1, 0)
			case ',', ' ', '\t', '\r', '\n':
				sep = depth == 0
			}
		}
		switch {
		case sep && start >= 0:
			out = append(out, s[start:i])
			start = -1
		case !sep && start < 0:
			start = i
		}
	}
	return out
}
