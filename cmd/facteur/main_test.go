package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runCmd runs facteur in-process with environment env and stdin, and
// returns the exit status, stdout and stderr.
func runCmd(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &cmdEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return env[k] }}
	code := run(e, args)
	return code, out.String(), errb.String()
}

// writeConfig writes a main.cf with data under a temp dir.
func writeConfig(t *testing.T, lines ...string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "main.cf")
	text := "data_directory = " + filepath.Join(dir, "data") + "\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		flags   map[string]string
		pos     []string
		wantErr bool
	}{
		{[]string{"add", "toto", "-config", "x.cf"}, map[string]string{"config": "x.cf"}, []string{"add", "toto"}, false},
		{[]string{"--config=x.cf", "add", "--password-stdin", "toto"}, map[string]string{"config": "x.cf", "password-stdin": "true"}, []string{"add", "toto"}, false},
		{[]string{"add", "--", "-odd-name"}, map[string]string{}, []string{"add", "-odd-name"}, false},
		{[]string{"-nope"}, nil, nil, true},
		{[]string{"-config"}, nil, nil, true},
		{[]string{"-password-stdin=yes"}, nil, nil, true},
	}
	for _, tt := range tests {
		flags, pos, err := parseArgs(tt.args, flagSpec{"password-stdin": false})
		if (err != nil) != tt.wantErr {
			t.Errorf("parseArgs(%q) error %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if diff := cmp.Diff(tt.flags, flags); diff != "" {
			t.Errorf("parseArgs(%q) flags (-want +got):\n%s", tt.args, diff)
		}
		if diff := cmp.Diff(tt.pos, pos); diff != "" {
			t.Errorf("parseArgs(%q) positional (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestUsageAndExitCodes(t *testing.T) {
	if code, _, _ := runCmd(t, nil, ""); code != exUsage {
		t.Errorf("no arguments: exit %d, want %d", code, exUsage)
	}
	if code, _, errs := runCmd(t, nil, "", "frobnicate"); code != exUsage || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errs)
	}
	if code, out, _ := runCmd(t, nil, "", "help"); code != 0 || !strings.Contains(out, "serve") {
		t.Errorf("help: exit %d, %q", code, out)
	}
}

func TestConfigCommand(t *testing.T) {
	path := writeConfig(t, "mydestination = example.org, $myhostname", "myhostname = mx.example.org")
	code, out, _ := runCmd(t, nil, "", "config", "-config", path, "mydestination", "myorigin")
	if want := "mydestination = example.org, mx.example.org\nmyorigin = mx.example.org\n"; code != 0 || out != want {
		t.Errorf("config NAME...: exit %d, got %q, want %q", code, out, want)
	}
	// FACTEUR_CONFIG names the file when -config does not.
	code, out, _ = runCmd(t, map[string]string{"FACTEUR_CONFIG": path}, "", "config", "-n")
	if code != 0 || !strings.Contains(out, "myhostname = mx.example.org\n") || strings.Contains(out, "message_size_limit") {
		t.Errorf("config -n from FACTEUR_CONFIG: exit %d, %q", code, out)
	}
	// -config wins over the environment.
	other := writeConfig(t, "myhostname = other.example")
	_, out, _ = runCmd(t, map[string]string{"FACTEUR_CONFIG": path}, "", "config", "-config", other, "myhostname")
	if out != "myhostname = other.example\n" {
		t.Errorf("-config did not win over FACTEUR_CONFIG: %q", out)
	}
	if code, _, errs := runCmd(t, nil, "", "config", "-config", path, "bogus"); code == 0 || !strings.Contains(errs, `unknown parameter "bogus"`) {
		t.Errorf("unknown name: exit %d, %q", code, errs)
	}
	bad := writeConfig(t, "this line is wrong")
	if code, _, errs := runCmd(t, nil, "", "config", "-config", bad); code != exConfig || !strings.Contains(errs, "main.cf:2: ") {
		t.Errorf("malformed configuration: exit %d, %q", code, errs)
	}
}

func TestUserCommands(t *testing.T) {
	path := writeConfig(t)
	if code, _, errs := runCmd(t, nil, "secret\n", "user", "add", "toto", "--password-stdin", "-config", path); code != 0 {
		t.Fatalf("user add: exit %d, %s", code, errs)
	}
	if code, _, _ := runCmd(t, nil, "secret\n", "user", "add", "toto", "--password-stdin", "-config", path); code != exDataErr {
		t.Errorf("adding an existing account: exit %d, want %d", code, exDataErr)
	}
	if code, _, _ := runCmd(t, nil, "\n", "user", "add", "titi", "--password-stdin", "-config", path); code != exUsage {
		t.Errorf("empty password: exit %d, want %d", code, exUsage)
	}
	if _, out, _ := runCmd(t, nil, "", "user", "list", "-config", path); out != "toto\n" {
		t.Errorf("user list = %q", out)
	}
	if code, _, _ := runCmd(t, nil, "", "user", "del", "nobody", "-config", path); code != exNoUser {
		t.Errorf("deleting an unknown account: exit %d, want %d", code, exNoUser)
	}
	if code, _, _ := runCmd(t, nil, "", "user", "del", "toto", "-config", path); code != 0 {
		t.Errorf("user del: exit %d", code)
	}
	if _, out, _ := runCmd(t, nil, "", "user", "list", "-config", path); out != "" {
		t.Errorf("user list after del = %q", out)
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"Hello,\r\n  world":             "Hello, world",
		"evil \x1b]2;title\x07 subject": "evil ?]2;title? subject",
		strings.Repeat("é", 70):         strings.Repeat("é", 59) + "…",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPasswordHashCost: the argon2id cost of new hashes comes from the
// configuration.
func TestPasswordHashCost(t *testing.T) {
	path := writeConfig(t, "password_hash_time = 1", "password_hash_memory = 8388608", "password_hash_threads = 2")
	if code, _, errs := runCmd(t, nil, "secret\n", "user", "add", "toto", "--password-stdin", "-config", path); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(filepath.Dir(path), "data", "store", "store.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var hash string
	if err := db.QueryRow(`SELECT password FROM accounts WHERE name = 'toto'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=8192,t=1,p=2$") {
		t.Errorf("hash %q, want the configured cost m=8192,t=1,p=2", hash)
	}
}
