package systest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLayers keeps the rules of the house (DESIGN.md): which of facteur's
// packages may depend on which.
func TestLayers(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Deps ","}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := make(map[string][]string) // package → facteur packages it depends on
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, list, _ := strings.Cut(line, ":")
		pkg = strings.TrimPrefix(pkg, "facteur/")
		deps[pkg] = nil
		for _, d := range strings.Split(list, ",") {
			if strings.HasPrefix(d, "facteur/") {
				deps[pkg] = append(deps[pkg], strings.TrimPrefix(d, "facteur/"))
			}
		}
	}
	if len(deps) < 5 {
		t.Fatalf("go list found only %d packages", len(deps))
	}
	base := []string{"internal/address", "internal/smtp", "internal/dsn", "internal/config", "internal/safeio",
		"internal/header", "internal/lineread", "internal/sevenbit"}
	rules := []struct {
		pkgs    []string
		allowed func(dep string) bool
		rule    string
	}{
		{base, func(d string) bool { return slices.Contains(base, d) }, "1: address, smtp, dsn, config and safeio (and the message-format leaves header, lineread and sevenbit) import nothing of ours but each other"},
		{[]string{"internal/smtpd", "internal/imapd", "internal/pop3d"}, func(d string) bool {
			return d != "internal/queue" && d != "internal/store" && !strings.HasPrefix(d, "internal/deliver")
		}, "2: smtpd, imapd and pop3d never import queue or a storage implementation"},
		{[]string{"internal/queue"}, func(d string) bool {
			return !slices.Contains([]string{"internal/smtp", "internal/smtpd", "internal/imapd", "internal/pop3d", "internal/store", "internal/cleanup", "internal/policy"}, d) && !strings.HasPrefix(d, "internal/deliver")
		}, "3: queue imports no protocol package and no mailbox format"},
		{[]string{"internal/smtpd", "internal/cleanup", "internal/policy"}, func(d string) bool {
			return d != "internal/store" && d != "internal/deliver/local"
		}, "4: mail from SMTP reaches a mailbox only through the queue and deliver/local"},
	}
	for _, r := range rules {
		for _, p := range r.pkgs {
			for _, d := range deps[p] {
				if !r.allowed(d) {
					t.Errorf("rule %s: %s imports %s", r.rule, p, d)
				}
			}
		}
	}
}

// TestOnlyCommandExits keeps rule 5: only cmd/facteur exits the process.
func TestOnlyCommandExits(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			if strings.Contains(sc.Text(), "os.Exit(") || strings.Contains(sc.Text(), "log.Fatal") {
				t.Errorf("%s:%d: only cmd/facteur may exit the process", path, n)
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}
