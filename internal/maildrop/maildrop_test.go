package maildrop

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWriteOpenRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "maildrop")
	msg := []byte("Subject: hi\r\n\r\nbody\r\n")
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	env := &Envelope{Sender: "", Recipients: []string{"toto@example.test", `"a b"@example.test`}, Body: "8BITMIME", UID: 1000, Time: when}
	name, err := Write(dir, env, msg)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("maildrop directory mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	names, err := List(dir)
	if err != nil || len(names) != 1 || names[0] != name {
		t.Fatalf("List = %q, %v; want [%s]", names, err, name)
	}
	f, err := Open(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f.Content)
	f.Close()
	if err != nil || string(got) != string(msg) {
		t.Errorf("content %q, %v; want %q", got, err, msg)
	}
	want := *env
	want.Size = int64(len(msg))
	if diff := cmp.Diff(want, f.Envelope); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	if err := Remove(dir, name); err != nil {
		t.Fatal(err)
	}
	if names, _ := List(dir); len(names) != 0 {
		t.Errorf("after Remove, List = %q", names)
	}
}

func TestWriteRefusesNoRecipients(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, &Envelope{Sender: "a@b"}, []byte("x")); err == nil {
		t.Error("Write without recipients succeeded")
	}
	if names, _ := List(dir); len(names) != 0 {
		t.Errorf("a refused Write left %q", names)
	}
}

func TestListOrderAndTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for i := range 3 {
		// Written newest first: List sorts by time.
		name, err := Write(dir, &Envelope{Recipients: []string{"a@b"}, Time: base.Add(time.Duration(3-i) * time.Hour)}, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{name}, want...)
	}
	os.WriteFile(filepath.Join(dir, ".tmp123"), []byte("half"), 0o600)
	os.Mkdir(filepath.Join(dir, CorruptDir), 0o700)
	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if got, err := List(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Errorf("List of a missing directory = %q, %v", got, err)
	}
}

func TestCorrupt(t *testing.T) {
	good := magic + `{"sender":"a@b","recipients":["c@d"],"size":5}` + "\n" + "hello"
	tests := []struct{ name, data string }{
		{"empty", ""},
		{"bad magic", "FACTEUR-MAILDROP 9\n" + good[len(magic):]},
		{"no envelope end", magic + `{"sender":"a@b"`},
		{"bad json", magic + "{nope}\n"},
		{"no recipients", magic + `{"sender":"a@b","recipients":[],"size":0}` + "\n"},
		{"truncated", good[:len(good)-1]},
		{"too long", good + "!"},
		{"negative size", magic + `{"recipients":["c@d"],"size":-1}` + "\n"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		os.WriteFile(filepath.Join(dir, "f"), []byte(tt.data), 0o600)
		f, err := Open(dir, "f")
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Open error %v, want ErrCorrupt", tt.name, err)
		}
		if f != nil {
			f.Close()
		}
	}
	os.WriteFile(filepath.Join(dir, "f"), []byte(good), 0o600)
	f, err := Open(dir, "f")
	if err != nil {
		t.Fatalf("a good file: %v", err)
	}
	f.Close()
}

func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad"), []byte("garbage"), 0o600)
	if err := Quarantine(dir, "bad"); err != nil {
		t.Fatal(err)
	}
	if names, _ := List(dir); len(names) != 0 {
		t.Errorf("after Quarantine, List = %q", names)
	}
	data, err := os.ReadFile(filepath.Join(dir, CorruptDir, "bad"))
	if err != nil || string(data) != "garbage" {
		t.Errorf("quarantined file: %q, %v", data, err)
	}
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte(magic + `{"sender":"a@b","recipients":["c@d"],"size":5}` + "\nhello"))
	f.Add([]byte(magic + "{}\n"))
	f.Add([]byte("garbage"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		df, err := Open(dir, "f")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		defer df.Close()
		got, err := io.ReadAll(df.Content)
		if err != nil || int64(len(got)) != df.Envelope.Size || !strings.HasSuffix(string(data), string(got)) {
			t.Fatalf("content of %d bytes (%v), envelope says %d", len(got), err, df.Envelope.Size)
		}
	})
}
