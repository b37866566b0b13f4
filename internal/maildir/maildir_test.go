package maildir

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFolderNames(t *testing.T) {
	tests := []struct{ name, dir string }{
		{"INBOX", ""},
		{"Sent", ".Sent"},
		{"Foo/Bar", ".Foo.Bar"},
		{"INBOX/Sub", ".INBOX.Sub"},
		{"a.b/c", `.a\2eb.c`},
		{`x\y`, `.x\5cy`},
		{`x\2ey`, `.x\5c2ey`},
		{"Envoyés", ".Envoyés"},
		{"...a", `.\2e\2e\2ea`},
	}
	for _, tt := range tests {
		dir, err := FolderDir(tt.name)
		if err != nil || dir != tt.dir {
			t.Errorf("FolderDir(%q) = %q, %v; want %q", tt.name, dir, err, tt.dir)
		}
		if tt.dir == "" {
			continue
		}
		name, err := FolderName(tt.dir)
		if err != nil || name != tt.name {
			t.Errorf("FolderName(%q) = %q, %v; want %q", tt.dir, name, err, tt.name)
		}
	}
}

func TestFolderNameRefused(t *testing.T) {
	for _, dir := range []string{
		"..", "...", ".a..b", ".a.", `.\2e\2e`, `.\2e`, `.a\2fb`, ".a\x01b", `.a\00b`,
		".a*", ".%", ".\xff", "Sent",
	} {
		if name, err := FolderName(dir); !errors.Is(err, ErrName) {
			t.Errorf("FolderName(%q) = %q, %v; want ErrName", dir, name, err)
		}
	}
	for _, name := range []string{"a//b", "../x", "a/..", "a/./b", "/abs", "a\x01", "a*", strings.Repeat("a/", 150) + "b"} {
		if dir, err := FolderDir(name); !errors.Is(err, ErrName) {
			t.Errorf("FolderDir(%q) = %q, %v; want ErrName", name, dir, err)
		}
	}
}

func TestParseInfo(t *testing.T) {
	kw := []string{"$Forwarded", "Junk", "", "work"}
	tests := []struct {
		name string
		want []string
	}{
		{"1.2.host", nil},
		{"1.2.host:2,", nil},
		{"1.2.host,S=12,W=14:2,S", []string{`\Seen`}},
		{"1.2.host:2,DFPRST", []string{"$Forwarded", `\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`}},
		{"1.2.host:2,Sabdz", []string{"$Forwarded", "Junk", `\Seen`, "work"}},
		{"1.2.host:2,SXc", []string{`\Seen`}},
		{"1.2.host:1,S", nil},
	}
	for _, tt := range tests {
		if got := parseInfo(tt.name, kw); !cmp.Equal(got, tt.want) {
			t.Errorf("parseInfo(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseKeywords(t *testing.T) {
	in := "0 $Forwarded\n2 Junk\r\nx bad\n26 toolate\n3 has space\n4 bad\\slash\n\n1 NonJunk\n"
	want := []string{"$Forwarded", "NonJunk", "Junk", "has"}
	// "3 has space" names "has space", which is no atom: index 3 stays
	// empty. The list is as long as the highest index kept.
	want = want[:3]
	if got := parseKeywords([]byte(in)); !cmp.Equal(got, want) {
		t.Errorf("parseKeywords = %q, want %q", got, want)
	}
	if got := parseKeywords(formatKeywords(want)); !cmp.Equal(got, want) {
		t.Errorf("formatKeywords does not read back: %q", got)
	}
}

func TestNaturalCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.p_9.h", "1.p_10.h", -1},
		{"1.p_10.h", "1.p_9.h", 1},
		{"10.x", "9.x", 1},
		{"a", "a", 0},
		{"a", "ab", -1},
		{"007", "7", 0},
		{"1700000000.M1P2.h", "1700000000.M1P2.h,S=3", -1},
	}
	for _, tt := range tests {
		if got := naturalCompare(tt.a, tt.b); got != tt.want {
			t.Errorf("naturalCompare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestWireReader(t *testing.T) {
	long := strings.Repeat("x", 70000)
	tests := []struct{ in, want string }{
		{"", ""},
		{"no line end", "no line end"},
		{"a\nb\nc\n", "a\r\nb\r\nc\r\n"},
		{"a\nb\r\nc", "a\r\nb\r\nc"},
		{"\n\n", "\r\n\r\n"},
		{"a\r\nbinary\n\x00\xff\r\n", "a\r\nbinary\n\x00\xff\r\n"}, // CRLF first: byte for byte
		{"a\rb\n", "a\rb\r\n"},
		{long + "\n", long + "\n"}, // no line end seen in the first 64 KiB
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = WireReader(io.NopCloser(strings.NewReader(tt.in)))
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != tt.want {
				t.Errorf("WireReader(%.20q) one byte %v = %.20q, %v; want %.20q", tt.in, oneByte, got, err, tt.want)
			}
		}
	}
}

// put writes a file under dir with the given modification time.
func put(t *testing.T, dir, name, content string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRead(t *testing.T) {
	root := t.TempDir()
	t1 := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	mkdirs(t, filepath.Join(root, "tmp"), filepath.Join(root, ".Empty", "cur"),
		filepath.Join(root, ".notmaildir", "x"), filepath.Join(root, "..bad", "cur"),
		filepath.Join(root, "cur", "subdir"))
	put(t, root, "new/1577934245.M1P1.host", "new one\n", t2)
	put(t, root, "cur/1577930645.p_10.host,S=3:2,Sa", "ten\n", t1)
	put(t, root, "cur/1577930645.p_9.host,S=3:2,RFb", "nine\n", t1)
	put(t, root, "cur/.hidden", "skip", t1)
	put(t, root, "tmp/1.2.host", "half written", t1)
	put(t, root, "dovecot-keywords", "0 $label1\n1 Junk\n", time.Time{})
	put(t, root, ".Foo.Bar/cur/1.2.host:2,T", "in foo/bar\r\n", t1)
	put(t, root, ".subscriptions", "Foo.Bar\n", time.Time{})
	secret := filepath.Join(t.TempDir(), "secret")
	put(t, filepath.Dir(secret), "secret", "outside", t1)
	if err := os.Symlink(secret, filepath.Join(root, ".Foo.Bar", "cur", "2.3.host:2,S")); err != nil {
		t.Fatal(err)
	}

	md, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	folders, problems, err := md.Folders()
	if err != nil {
		t.Fatal(err)
	}
	want := []Folder{{"INBOX", "."}, {"Empty", ".Empty"}, {"Foo/Bar", ".Foo.Bar"}}
	if diff := cmp.Diff(want, folders); diff != "" {
		t.Errorf("Folders (-want +got):\n%s", diff)
	}
	if got := problemPaths(root, problems); !cmp.Equal(got, []string{"..bad", ".notmaildir"}) {
		t.Errorf("folder problems: %v", problems)
	}

	msgs, problems, err := md.Messages(folders[0])
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Path, Content string
		Flags         []string
		Date          time.Time
	}
	var gots []got
	for _, m := range msgs {
		gots = append(gots, got{m.Path, readAll(t, md, m), m.Flags, m.Date.UTC()})
	}
	wantMsgs := []got{
		{"cur/1577930645.p_9.host,S=3:2,RFb", "nine\r\n", []string{"Junk", `\Answered`, `\Flagged`}, t1},
		{"cur/1577930645.p_10.host,S=3:2,Sa", "ten\r\n", []string{"$label1", `\Seen`}, t1},
		{"new/1577934245.M1P1.host", "new one\r\n", nil, t2},
	}
	if diff := cmp.Diff(wantMsgs, gots); diff != "" {
		t.Errorf("INBOX messages (-want +got):\n%s", diff)
	}
	if got := problemPaths(root, problems); !cmp.Equal(got, []string{"cur/subdir"}) {
		t.Errorf("INBOX problems: %v", problems)
	}

	msgs, problems, err = md.Messages(folders[2])
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || readAll(t, md, msgs[0]) != "in foo/bar\r\n" || !cmp.Equal(msgs[0].Flags, []string{`\Deleted`}) {
		t.Errorf("Foo/Bar messages: %+v", msgs)
	}
	// The link out of the tree is a problem, never read.
	if got := problemPaths(root, problems); !cmp.Equal(got, []string{".Foo.Bar/cur/2.3.host:2,S"}) {
		t.Errorf("Foo/Bar problems: %v", problems)
	}
	if msgs, _, err := md.Messages(folders[1]); err != nil || len(msgs) != 0 {
		t.Errorf("Empty: %v, %v", msgs, err)
	}
}

func problemPaths(root string, ps []Problem) []string {
	var out []string
	for _, p := range ps {
		rel, _ := filepath.Rel(root, p.Path)
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

func readAll(t *testing.T, md *Maildir, m Message) string {
	t.Helper()
	r, err := md.Open(m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNotMaildir(t *testing.T) {
	md, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	if _, _, err := md.Folders(); !errors.Is(err, ErrNotMaildir) {
		t.Errorf("empty directory: %v, want ErrNotMaildir", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing directory opened")
	}
}

var nameRE = regexp.MustCompile(`^[0-9]+\.[0-9]+_[0-9]+\.[^,:/]+,S=[0-9]+:2,[A-Za-z]*$`)

func TestWriter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	date := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	fw, err := w.Folder("a.b/c")
	if err != nil {
		t.Fatal(err)
	}
	var many []string
	for i := range 27 {
		many = append(many, "kw"+string(rune('A'+i)))
	}
	tests := []struct {
		content string
		flags   []string
		dropped []string
	}{
		{"one\r\n", []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`, "$Forwarded"}, nil},
		{"two", []string{"Junk", `\Seen`, "bad(kw", `\Recent`}, []string{"bad(kw", `\Recent`}},
		{"three\n", append([]string{"Junk"}, many...), many[25:]},
	}
	for _, tt := range tests {
		dropped, err := fw.Add(strings.NewReader(tt.content), tt.flags, date)
		if err != nil || !cmp.Equal(dropped, tt.dropped) {
			t.Errorf("Add(%q) dropped %q, %v; want %q", tt.content, dropped, err, tt.dropped)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, `.a\2eb.c`)
	for _, f := range []string{"cur", "new", "tmp", "maildirfolder", "dovecot-keywords"} {
		if _, err := os.Stat(filepath.Join(folder, f)); err != nil {
			t.Errorf("folder lacks %s: %v", f, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(folder, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ not empty: %v", ents)
	}
	ents, _ := os.ReadDir(filepath.Join(folder, "cur"))
	for _, e := range ents {
		if !nameRE.MatchString(e.Name()) {
			t.Errorf("file name %q is not time.pid_seq.host,S=size:2,flags", e.Name())
		}
	}

	md, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	msgs, problems, err := md.Messages(Folder{"a.b/c", `.a\2eb.c`})
	if err != nil || len(problems) != 0 || len(msgs) != len(tests) {
		t.Fatalf("reading back: %d messages, %v, %v", len(msgs), problems, err)
	}
	for i, m := range msgs {
		want := slices.DeleteFunc(slices.Clone(tests[i].flags), func(f string) bool { return slices.Contains(tests[i].dropped, f) })
		slices.Sort(want)
		if diff := cmp.Diff(want, m.Flags); diff != "" {
			t.Errorf("message %d flags (-want +got):\n%s", i, diff)
		}
		if !m.Date.Equal(date) {
			t.Errorf("message %d date %v, want %v", i, m.Date, date)
		}
		if m.Size != int64(len(tests[i].content)) || !strings.Contains(m.Path, ",S="+strconv.Itoa(len(tests[i].content))+":2,") {
			t.Errorf("message %d: size %d, path %s", i, m.Size, m.Path)
		}
	}

	// Reopening the folder keeps the letters given out.
	fw, err = w.Folder("a.b/c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Add(strings.NewReader("four"), []string{"kwA"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	fw.Close()
	msgs, _, _ = md.Messages(Folder{"a.b/c", `.a\2eb.c`})
	last := msgs[len(msgs)-1]
	if !cmp.Equal(last.Flags, []string{"kwA"}) || !strings.HasSuffix(last.Path, ":2,b") {
		t.Errorf("after reopening: %s %q", last.Path, last.Flags)
	}

	if _, err := w.Folder("../escape"); !errors.Is(err, ErrName) {
		t.Errorf("Folder(../escape) = %v, want ErrName", err)
	}
}

func TestWriterInbox(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fw, err := w.Folder("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Add(strings.NewReader("hi"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "cur"))
	if len(ents) != 1 || !strings.HasSuffix(ents[0].Name(), ",S=2:2,") {
		t.Errorf("INBOX cur/: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(dir, "maildirfolder")); err == nil {
		t.Error("the root has a maildirfolder marker")
	}
}

func TestHostPart(t *testing.T) {
	for in, want := range map[string]string{"mx.example": "mx.example", "a/b:c,d": `a\057b\072c\054d`, "": "localhost"} {
		if got := hostPart(in); got != want {
			t.Errorf("hostPart(%q) = %q, want %q", in, got, want)
		}
	}
}
