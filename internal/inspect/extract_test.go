package inspect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSafeFileName(t *testing.T) {
	long := strings.Repeat("é", 150) + ".pdf"
	for in, want := range map[string]string{
		"report.pdf":                "report.pdf",
		"../../etc/passwd":          "passwd",
		`C:\Users\x\evil.exe`:       "evil.exe",
		"..":                        "",
		".bashrc":                   "bashrc",
		"  spaced name.txt  ":       "spaced name.txt",
		"tab\tand\x00nul\x1b[31m.t": "tabandnul[31m.t",
		"invoice\u202Efdp.exe":      "invoicefdp.exe",
		"bad\xffutf8":               "bad_utf8",
		"/":                         "",
		long:                        strings.Repeat("é", 98) + ".pdf",
	} {
		if got := SafeFileName(in); got != want {
			t.Errorf("SafeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDirExtractor: attachments land in the directory under safe names,
// never outside it, never over an existing file.
func TestDirExtractor(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	x, err := NewDirExtractor(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symbolic link in the directory that points outside is not followed.
	if err := os.Symlink(filepath.Join(parent, "escaped.pdf"), filepath.Join(dir, "Résumé de la réunion.pdf")); err != nil {
		t.Fatal(err)
	}
	r := analyzeFile(t, "rfc2231.eml", Options{Extract: x})
	want := map[string]string{"2": "Résumé de la réunion-1.pdf", "3": "naïve.txt", "4": "passwd-1"}
	for id, name := range want {
		if p := mustPart(t, r, id); p.Saved != name {
			t.Errorf("part %s saved as %q, want %q", id, p.Saved, name)
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "passwd-1"))
	if err != nil || string(got) != "root:x:0:0:root:/root:/bin/bash\n" {
		t.Errorf("passwd-1 = %q, %v", got, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "passwd")); string(got) != "mine" {
		t.Errorf("an existing file was overwritten: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(parent, "escaped.pdf")); err == nil {
		t.Error("a file was written outside the directory")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "naïve.txt")); string(got) != "na\xefve" { // the line end before a boundary is the boundary's
		t.Errorf("naïve.txt = %q", got)
	}
	// Nameless attachments get the part's number.
	r = analyzeString(t, "Content-Type: application/zip\nContent-Disposition: attachment\n\nPK\n", Options{Extract: x})
	if r.Message.Body.Saved != "part-1.bin" {
		t.Errorf("nameless attachment saved as %q", r.Message.Body.Saved)
	}
}
