package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"facteur/internal/maildir"
	"facteur/internal/store"
)

// portConfig writes a configuration with cheap password hashes and adds
// the accounts.
func portConfig(t testing.TB, accounts ...string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "main.cf")
	text := "data_directory = " + filepath.Join(dir, "data") + "\npassword_hash_time = 1\npassword_hash_memory = 65536\npassword_hash_threads = 1\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		if code, _, errs := runCmdTB(t, "secret\n", "user", "add", a, "--password-stdin", "-config", path); code != 0 {
			t.Fatalf("user add %s: %d %s", a, code, errs)
		}
	}
	return path
}

func runCmdTB(t testing.TB, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	e := &cmdEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code := run(e, args)
	return code, out.String(), errb.String()
}

// openPortStore opens the store of a configuration written by portConfig.
func openPortStore(t *testing.T, config string) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(filepath.Dir(config), "data", "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// stored is a message as the store has it.
type stored struct {
	Content string
	Flags   []string
	Date    time.Time
}

// storedMail returns the account's messages by mailbox, each mailbox in
// UID order.
func storedMail(t *testing.T, st *store.Store, account string) map[string][]stored {
	t.Helper()
	ctx := context.Background()
	boxes, err := st.Mailboxes(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]stored)
	for _, mb := range boxes {
		msgs, err := st.Messages(ctx, account, mb.Name)
		if err != nil {
			t.Fatal(err)
		}
		out[mb.Name] = []stored{}
		for _, m := range msgs {
			r, err := st.OpenMessage(ctx, account, mb.Name, m.UID)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[mb.Name] = append(out[mb.Name], stored{string(b), m.Flags, m.InternalDate.UTC()})
		}
	}
	return out
}

// file is a message file of an exported tree.
type file struct {
	Content string
	Flags   []string
	Date    time.Time
}

// readTree returns the folders of a Maildir++ tree, by directory name,
// with their messages in order, read through the file system (not the
// reader under test, but for the letters of the keywords).
func readTree(t *testing.T, root string) map[string][]file {
	t.Helper()
	md, err := maildir.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	folders, problems, err := md.Folders()
	if err != nil || len(problems) > 0 {
		t.Fatalf("reading %s: %v %v", root, problems, err)
	}
	out := make(map[string][]file)
	for _, f := range folders {
		msgs, problems, err := md.Messages(f)
		if err != nil || len(problems) > 0 {
			t.Fatalf("reading %s: %v %v", f.Dir, problems, err)
		}
		out[f.Dir] = []file{}
		for _, m := range msgs {
			b, err := os.ReadFile(filepath.Join(root, m.Path))
			if err != nil {
				t.Fatal(err)
			}
			out[f.Dir] = append(out[f.Dir], file{string(b), m.Flags, m.Date.UTC()})
		}
	}
	return out
}

func writeFile(t testing.TB, root, name, content string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestMailboxRoundTrip: a Maildir as Dovecot leaves it is imported
// (LF becomes CRLF, flags, keywords, folders, dates), and export, import
// into another account and export again give the same tree byte for byte.
func TestMailboxRoundTrip(t *testing.T) {
	config := portConfig(t, "toto", "titi")
	src := t.TempDir()
	d := func(i int) time.Time { return time.Date(2019, 3, 4, 5, 6, i, 0, time.UTC) }
	binary := "Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\xff\xfe\n\rbare LF and CR\n\x80\r\n"
	writeFile(t, src, "dovecot-keywords", "0 $label1\n1 Junk\n", d(0))
	writeFile(t, src, "cur/1551675961.M1P1.mx,S=40,W=42:2,S", "Subject: one\n\nFrom the start\n>From quoted\n", d(1))
	writeFile(t, src, "cur/1551675962.M2P1.mx:2,DFRSTab", "Subject: all flags\n\nbody\n", d(2))
	writeFile(t, src, "new/1551675963.M3P1.mx", "Subject: new, no final newline\n\nend", d(3))
	writeFile(t, src, "cur/1551675964.M4P1.mx:2,", binary, d(4))
	writeFile(t, src, ".Foo.Bar/cur/1551675965.M5P1.mx:2,a", "Subject: nested\n\n8-bit \xc3\xa9t\xc3\xa9\n", d(5))
	writeFile(t, src, ".Foo.Bar/dovecot-keywords", "0 work\n", d(0))
	writeFile(t, src, ".Sent/cur/1551675966.M6P1.mx:2,S", "Subject: sent\r\n\r\nCRLF already\r\n", d(6))
	if err := os.MkdirAll(filepath.Join(src, ".Empty", "cur"), 0o700); err != nil {
		t.Fatal(err)
	}

	code, out, errs := runCmdTB(t, "", "mailbox", "import", "toto", src, "-config", config)
	if code != 0 {
		t.Fatalf("import: exit %d, %s", code, errs)
	}
	if want := "INBOX: 4 messages\nEmpty: 0 messages\nFoo/Bar: 1 messages\nSent: 1 messages\n"; out != want {
		t.Errorf("import printed %q, want %q", out, want)
	}

	// Run again (as after an interruption), the import stores nothing twice.
	code, out, errs = runCmdTB(t, "", "mailbox", "import", "toto", src, "-config", config)
	if want := "INBOX: 0 messages\nEmpty: 0 messages\nFoo/Bar: 0 messages\nSent: 0 messages\n"; code != 0 || out != want {
		t.Errorf("second import: exit %d, printed %q (%s), want %q", code, out, errs, want)
	}

	// A mailbox name with a "." and a keyword the import did not bring.
	st := openPortStore(t, config)
	ctx := context.Background()
	if err := st.CreateMailbox(ctx, "toto", "v1.2/notes"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Append(ctx, "toto", "v1.2/notes", strings.NewReader("Subject: dot\r\n\r\nx\r\n"), []string{`\Seen`, "$Forwarded"}, d(7)); err != nil {
		t.Fatal(err)
	}
	want := map[string][]stored{
		"INBOX": {
			{"Subject: one\r\n\r\nFrom the start\r\n>From quoted\r\n", []string{`\Seen`}, d(1)},
			{"Subject: all flags\r\n\r\nbody\r\n", []string{"$label1", "Junk", `\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`}, d(2)},
			{"Subject: new, no final newline\r\n\r\nend", nil, d(3)},
			{binary, nil, d(4)},
		},
		"Foo/Bar":    {{"Subject: nested\r\n\r\n8-bit \xc3\xa9t\xc3\xa9\r\n", []string{"work"}, d(5)}},
		"Sent":       {{"Subject: sent\r\n\r\nCRLF already\r\n", []string{`\Seen`}, d(6)}},
		"Empty":      {},
		"v1.2/notes": {{"Subject: dot\r\n\r\nx\r\n", []string{"$Forwarded", `\Seen`}, d(7)}},
		"Drafts":     {}, "Trash": {}, "Junk": {}, "Archive": {},
	}
	got := storedMail(t, st, "toto")
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("store after import (-want +got):\n%s", diff)
	}
	st.Close()

	out1, out2 := filepath.Join(t.TempDir(), "export1"), filepath.Join(t.TempDir(), "export2")
	if code, out, errs := runCmdTB(t, "", "mailbox", "export", "toto", out1, "-config", config); code != 0 {
		t.Fatalf("export: exit %d, %s", code, errs)
	} else if !strings.Contains(out, "INBOX: 4 messages\n") || !strings.Contains(out, "v1.2/notes: 1 messages\n") {
		t.Errorf("export printed %q", out)
	}
	if code, _, errs := runCmdTB(t, "", "mailbox", "import", "titi", out1, "-config", config); code != 0 {
		t.Fatalf("import of the export: exit %d, %s", code, errs)
	}
	if code, _, errs := runCmdTB(t, "", "mailbox", "export", "titi", out2, "-config", config); code != 0 {
		t.Fatalf("second export: exit %d, %s", code, errs)
	}
	tree1, tree2 := readTree(t, out1), readTree(t, out2)
	if diff := cmp.Diff(tree1, tree2); diff != "" {
		t.Errorf("export → import → export differs (-first +second):\n%s", diff)
	}
	wantDirs := []string{".", ".Archive", ".Drafts", ".Empty", ".Foo.Bar", ".Junk", ".Sent", ".Trash", `.v1\2e2.notes`}
	if dirs := slices.Sorted(maps.Keys(tree1)); !cmp.Equal(dirs, wantDirs) {
		t.Errorf("exported folders %q, want %q", dirs, wantDirs)
	}
	// The export holds the store's bytes and flags.
	for name, msgs := range want {
		dir, _ := maildir.FolderDir(name)
		if dir == "" {
			dir = "."
		}
		var files []stored
		for _, f := range tree1[dir] {
			files = append(files, stored(f))
		}
		if diff := cmp.Diff(msgs, files, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("exported %s (-store +files):\n%s", name, diff)
		}
	}
	st = openPortStore(t, config)
	if diff := cmp.Diff(storedMail(t, st, "toto"), storedMail(t, st, "titi"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the two accounts differ (-toto +titi):\n%s", diff)
	}
}

func TestMailboxImportMbox(t *testing.T) {
	config := portConfig(t, "toto")
	path := filepath.Join(t.TempDir(), "mbox")
	mbox := "From a@example.org Sat Jan  3 01:05:34 1996\nSubject: one\nStatus: RO\nX-Status: A\n\n>From quoted\nbody\n\n" +
		"From b@example.org Sun Jan  4 01:05:34 1996\nSubject: two\n\nsecond\n\n"
	if err := os.WriteFile(path, []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCmdTB(t, "", "mailbox", "import", "toto", path, "-config", config); code != 0 || out != "INBOX: 2 messages\n" {
		t.Fatalf("import: exit %d, %q, %s", code, out, errs)
	}
	if code, out, errs := runCmdTB(t, "", "mailbox", "import", "toto", path, "--mailbox", "Old/1996", "-config", config); code != 0 || out != "Old/1996: 2 messages\n" {
		t.Fatalf("import --mailbox: exit %d, %q, %s", code, out, errs)
	}
	if code, out, errs := runCmdTB(t, "", "mailbox", "import", "toto", path, "-config", config); code != 0 || out != "INBOX: 0 messages\n" {
		t.Errorf("the same import again: exit %d, %q, %s; want nothing stored twice", code, out, errs)
	}
	st := openPortStore(t, config)
	got := storedMail(t, st, "toto")
	want := []stored{
		{"Subject: one\r\n\r\nFrom quoted\r\nbody\r\n", []string{`\Answered`, `\Seen`}, time.Date(1996, 1, 3, 1, 5, 34, 0, time.Local).UTC()},
		{"Subject: two\r\n\r\nsecond\r\n", nil, time.Date(1996, 1, 4, 1, 5, 34, 0, time.Local).UTC()},
	}
	for _, mb := range []string{"INBOX", "Old/1996"} {
		if diff := cmp.Diff(want, got[mb], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", mb, diff)
		}
	}
	bad := filepath.Join(t.TempDir(), "notmbox")
	os.WriteFile(bad, []byte("Subject: x\n\n"), 0o600)
	if code, _, errs := runCmdTB(t, "", "mailbox", "import", "toto", bad, "-config", config); code == 0 || !strings.Contains(errs, "not an mbox file") {
		t.Errorf("import of a non-mbox: exit %d, %s", code, errs)
	}
}

// TestMailboxImportBadInput: folder names that are no mailbox names and
// files that are no messages are reported and skipped; the rest comes in.
func TestMailboxImportBadInput(t *testing.T) {
	config := portConfig(t, "toto")
	src := t.TempDir()
	date := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	writeFile(t, src, "cur/1.1.h:2,S", "Subject: ok\n\n", date)
	for _, dir := range []string{`.\2e\2e`, ".a..b", ".ctl\x01x", `.x\2fy`, ".%"} {
		writeFile(t, src, dir+"/cur/2.2.h", "Subject: lost\n\n", date)
	}
	if err := os.MkdirAll(filepath.Join(src, "cur", "a-directory"), 0o700); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmdTB(t, "", "mailbox", "import", "toto", src, "-config", config)
	if code != exDataErr || out != "INBOX: 1 messages\n" {
		t.Errorf("import: exit %d, %q; want %d and one message", code, out, exDataErr)
	}
	for _, w := range []string{`\2e\2e`, ".a..b", `x\2fy`, ".%", "a-directory", "6 files or folders skipped"} {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr does not report %q:\n%s", w, errs)
		}
	}
	st := openPortStore(t, config)
	boxes, err := st.Mailboxes(context.Background(), "toto")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mb := range boxes {
		names = append(names, mb.Name)
	}
	if want := []string{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"}; !cmp.Equal(names, want) {
		t.Errorf("mailboxes %q, want %q", names, want)
	}
}

func TestMailboxPortErrors(t *testing.T) {
	config := portConfig(t, "toto")
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o600)
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"import", "nobody", full}, exNoUser, `no account "nobody"`},
		{[]string{"export", "nobody", filepath.Join(full, "new")}, exNoUser, `no account "nobody"`},
		{[]string{"import", "toto", full, "--mailbox", "X"}, exUsage, "--mailbox is for an mbox file"},
		{[]string{"import", "toto"}, exUsage, "usage"},
		{[]string{"export", "toto", full, "extra"}, exUsage, "usage"},
		{[]string{"list", "toto", "--mailbox", "X"}, exUsage, "--mailbox is for mailbox import"},
		{[]string{"export", "toto", full}, exDataErr, "not empty"},
		{[]string{"import", "toto", full}, 1, "not a Maildir"},
		{[]string{"import", "toto", filepath.Join(full, "missing")}, 1, "no such file"},
	}
	for _, tt := range tests {
		code, _, errs := runCmdTB(t, "", append(append([]string{"mailbox"}, tt.args...), "-config", config)...)
		if code != tt.code || !strings.Contains(errs, tt.msg) {
			t.Errorf("mailbox %q: exit %d, %q; want %d and %q", tt.args, code, errs, tt.code, tt.msg)
		}
	}
}

// TestMailboxExportStaysInside: every file an export writes is under DIR,
// whatever the mailbox names.
func TestMailboxExportStaysInside(t *testing.T) {
	config := portConfig(t, "toto")
	st := openPortStore(t, config)
	ctx := context.Background()
	for _, name := range []string{"a.b", "..x", `back\slash`, "x/.y", "über/ß"} {
		if err := st.CreateMailbox(ctx, "toto", name); err != nil {
			t.Fatalf("CreateMailbox(%q): %v", name, err)
		}
		if _, _, err := st.Append(ctx, "toto", name, strings.NewReader("S: "+name+"\r\n\r\n"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if code, _, errs := runCmdTB(t, "", "mailbox", "export", "toto", dir, "-config", config); code != 0 {
		t.Fatalf("export: exit %d, %s", code, errs)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Errorf("export wrote beside DIR: %v", ents)
	}
	tree := readTree(t, dir)
	for _, d := range []string{`.a\2eb`, `.\2e\2ex`, `.back\5cslash`, `.x.\2ey`, ".über.ß"} {
		if len(tree[d]) != 1 {
			t.Errorf("folder %s: %v", d, tree[d])
		}
	}
	if len(tree) != 6+5 { // the six of every account, the five made here
		t.Errorf("%d folders: %v", len(tree), slices.Sorted(maps.Keys(tree)))
	}
}

// BenchmarkImportMaildir imports a Maildir of 10,000 messages into a
// fresh account per iteration; msgs/s is the figure to watch.
func BenchmarkImportMaildir(b *testing.B) {
	const n = 10000
	src := b.TempDir()
	date := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n", 40)
	for i := range n {
		writeFile(b, src, fmt.Sprintf("cur/%d.M%dP1.host:2,S", 1577836800+i, i),
			fmt.Sprintf("From: a@example.org\nSubject: message %d\n\n%s", i, body), date)
	}
	config := portConfig(b)
	i := 0
	for b.Loop() {
		i++
		account := fmt.Sprintf("user%d", i)
		if code, _, errs := runCmdTB(b, "secret\n", "user", "add", account, "--password-stdin", "-config", config); code != 0 {
			b.Fatal(errs)
		}
		if code, _, errs := runCmdTB(b, "", "mailbox", "import", account, src, "-config", config); code != 0 {
			b.Fatal(errs)
		}
	}
	b.ReportMetric(float64(n*i)/b.Elapsed().Seconds(), "msgs/s")
}
