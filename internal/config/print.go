package config

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Print writes "name = value" lines, sorted by name, with effective
// (expanded) values, as postconf does: every parameter, or only those set
// in the file when onlySet, or only those named. A name that is neither in
// the table nor set in the file is an error.
func (c *Config) Print(w io.Writer, names []string, onlySet bool) error {
	list := c.names()
	if len(names) > 0 {
		for _, n := range names {
			if _, ok := c.values[n]; !ok {
				return fmt.Errorf("unknown parameter %q", n)
			}
		}
		list = slices.Clone(names)
		slices.Sort(list)
		list = slices.Compact(list)
	}
	bw := bufio.NewWriter(w)
	for _, n := range list {
		if onlySet && !c.IsSet(n) {
			continue
		}
		if v := c.Get(n); v != "" {
			fmt.Fprintf(bw, "%s = %s\n", n, v)
		} else {
			fmt.Fprintf(bw, "%s =\n", n)
		}
	}
	return bw.Flush()
}

// MarkdownTable returns the README's table of parameters, generated from
// Params.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Parameter | Default | Kind | Meaning |\n")
	b.WriteString("| --- | --- | --- | --- |\n")
	for _, p := range Params() {
		def := "(empty)"
		if p.Default != "" {
			def = "`" + p.Default + "`"
			if strings.HasPrefix(p.Default, "(") {
				def = p.Default // computed, described in words
			}
		}
		kind := p.Kind
		if p.Unit != "" {
			kind += " (bare number: " + p.Unit + ")"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Name, mdEscape(def), kind, mdEscape(p.Doc))
	}
	return b.String()
}

// mdEscape keeps a cell's text from ending the cell.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
