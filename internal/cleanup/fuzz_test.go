package cleanup

import (
	"bytes"
	"strings"
	"testing"

	"facteur/internal/envelope"
)

// FuzzCleanup checks, for any input and any split of it into two writes,
// that cleanup neither fails nor panics, produces the same queue file
// whatever the split, counts its size, and changes the message only by
// the Received field in front and line endings it had to supply.
func FuzzCleanup(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nbody\r\n"), uint16(5))
	f.Add([]byte("Received: x\r\n\ty\r\nReceived: z\r\n\r\n"), uint16(0))
	f.Add([]byte("no header\r\nSubject: x\r\n"), uint16(3))
	f.Add([]byte("Subject: x\r\n folded\r\nnot a field\r\nbody"), uint16(14))
	f.Add([]byte("A: b\nC: d\n\nbare LF"), uint16(9))
	f.Add([]byte("Header-Only: yes"), uint16(1))
	f.Fuzz(func(t *testing.T, msg []byte, split uint16) {
		cut := int(split) % (len(msg) + 1)
		q := &fakeQueue{}
		c := newTestCleanup(q, 3, nil)
		env := testEnv(false)
		err1 := runChunks(t, c, env, msg[:cut], msg[cut:])
		q2 := &fakeQueue{}
		err2 := runChunks(t, newTestCleanup(q2, 3, nil), testEnv(false), msg)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("split at %d changed the outcome: %v vs %v", cut, err1, err2)
		}
		if err1 != nil {
			if hops := parseHeader(msg).received; hops <= 3 && !bytes.Contains(msg, []byte("eceived")) {
				t.Fatalf("refused with %d hops: %v", hops, err1)
			}
			return
		}
		out := q.files[0].buf.Bytes()
		if !bytes.Equal(out, q2.files[0].buf.Bytes()) {
			t.Fatalf("split at %d changed the output:\n%q\n%q", cut, out, q2.files[0].buf.Bytes())
		}
		if env.Size != int64(len(out)) {
			t.Fatalf("env.Size %d, queued %d", env.Size, len(out))
		}
		if !bytes.HasPrefix(out, []byte(testReceived)) {
			t.Fatalf("output does not start with the Received field: %q", out)
		}
		rest := strings.ReplaceAll(string(out[len(testReceived):]), "\r\n", "")
		if want := strings.ReplaceAll(string(msg), "\r\n", ""); rest != want {
			t.Fatalf("content changed:\n%q\n%q", rest, want)
		}
	})
}

func runChunks(t *testing.T, c *Cleanup, env *envelope.Envelope, chunks ...[]byte) error {
	t.Helper()
	m, err := c.Begin(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range chunks {
		if n, err := m.Write(p); err != nil || n != len(p) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	return m.Commit(t.Context())
}
