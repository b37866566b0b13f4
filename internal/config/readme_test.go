package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's parameter table")

const (
	beginParams = "<!-- BEGIN PARAMETERS -->\n"
	endParams   = "<!-- END PARAMETERS -->"
)

// TestREADMEParams keeps the README's parameter table equal to the one
// table (STYLE 15); -update rewrites it.
func TestREADMEParams(t *testing.T) {
	const path = "../../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	b := strings.Index(text, beginParams)
	e := strings.Index(text, endParams)
	if b < 0 || e < b {
		t.Fatalf("%s: missing the lines %q and %q around the parameter table", path, strings.TrimSpace(beginParams), endParams)
	}
	got, want := text[b+len(beginParams):e], MarkdownTable()
	if got == want {
		return
	}
	if !*update {
		t.Fatalf("%s: the parameter table differs from Params(); run go test ./internal/config -run TestREADMEParams -update", path)
	}
	text = text[:b+len(beginParams)] + want + text[e:]
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMarkdownTable(t *testing.T) {
	md := MarkdownTable()
	lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
	if len(lines) != len(Params())+2 {
		t.Fatalf("%d lines, want %d", len(lines), len(Params())+2)
	}
	for _, want := range []string{
		"| `delay_warning_time` | `0h` | time (bare number: h) |",
		"| `relay_domains` | (empty) | list |",
		"| `myhostname` | (system host name) | string |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	for _, l := range lines {
		if strings.Count(strings.ReplaceAll(l, `\|`, ""), "|") != 5 {
			t.Errorf("row with a stray '|': %s", l)
		}
	}
}
