package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzValidID checks that a queue ID from the command line (queue show,
// queue cat) is either refused or names a file inside msg/.
func FuzzValidID(f *testing.F) {
	f.Add("0PJ8Y1Z2K3M4N5Q")
	f.Add("../../etc/passw")
	f.Add("")
	q := openTest(f, "", Options{})
	msg := filepath.Join(q.dir, "msg") + string(filepath.Separator)
	f.Fuzz(func(t *testing.T, id string) {
		if !validID(id) {
			if _, err := q.OpenContent(id); !errors.Is(err, ErrNotFound) {
				t.Errorf("OpenContent(%q) of an invalid ID = %v", id, err)
			}
			return
		}
		if len(id) != idLen || strings.ContainsAny(id, "./\\") {
			t.Errorf("validID(%q) accepted a malformed ID", id)
		}
		if p := q.contentPath(id); !strings.HasPrefix(p, msg) {
			t.Errorf("contentPath(%q) = %s, outside %s", id, p, msg)
		}
		if _, err := q.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) on an empty queue = %v", id, err)
		}
	})
}

// FuzzLoadClient checks that whatever sits in a row's client column (the
// database is a file that can be damaged) reads back or is reported as
// undecodable, never a panic or a silent success with garbage.
func FuzzLoadClient(f *testing.F) {
	f.Add(`{"Helo":"x","Addr":"192.0.2.1"}`)
	f.Add(`{`)
	f.Add(`{"Addr":"not an address"}`)
	q := openTest(f, "", Options{})
	id := enqueue(f, q.Queue, "s@x", "body", rcpt("r@x", "local"))
	f.Fuzz(func(t *testing.T, client string) {
		if _, err := q.db.Exec(`UPDATE messages SET client = ? WHERE id = ?`, client, id); err != nil {
			t.Fatal(err)
		}
		env, _, err := loadEnvelope(context.Background(), q.st, id)
		if err != nil && !errors.Is(err, errUndecodable) {
			t.Errorf("load with client %q: %v", client, err)
		}
		if err == nil && (env.ID != id || len(env.Recipients) != 1) {
			t.Errorf("load with client %q: %+v", client, env)
		}
	})
}
