package queue

import (
	"crypto/rand"
	"sync"
	"time"
)

// Queue IDs are 15 characters of an upper-case base-32 alphabet: 11 for the
// arrival time in microseconds since the epoch, 2 for a counter that keeps
// IDs of one process strictly increasing, 2 for a random per-process tag so
// that two processes queueing at once never collide. Sorting IDs sorts by
// arrival.
const (
	idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // Crockford's, in ASCII order
	idTimeLen  = 11
	idCountLen = 2
	idTagLen   = 2
	idLen      = idTimeLen + idCountLen + idTagLen
	idCountMax = 1 << (5 * idCountLen)
)

type idGen struct {
	now   func() time.Time
	tag   string
	mu    sync.Mutex
	last  int64 // microseconds of the last ID
	count int   // IDs issued at last
}

func newIDGen(now func() time.Time) idGen {
	var b [idTagLen]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	for i := range b {
		b[i] = idAlphabet[b[i]%32]
	}
	return idGen{now: now, tag: string(b[:])}
}

// next returns a new queue ID, greater than every earlier one of g.
func (g *idGen) next() string {
	g.mu.Lock()
	us := g.now().UnixMicro()
	if us <= g.last {
		us = g.last
		g.count++
		if g.count == idCountMax {
			us++
			g.count = 0
		}
	} else {
		g.count = 0
	}
	g.last = us
	count := g.count
	g.mu.Unlock()

	var b [idLen]byte
	encode32(b[:idTimeLen], uint64(us))
	encode32(b[idTimeLen:idTimeLen+idCountLen], uint64(count))
	copy(b[idTimeLen+idCountLen:], g.tag)
	return string(b[:])
}

// encode32 writes v in base 32, most significant digit first, filling dst.
func encode32(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = idAlphabet[v&31]
		v >>= 5
	}
}

// validID reports whether id has the form of a queue ID; it keeps names
// from the command line out of path arithmetic.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') || c == 'I' || c == 'L' || c == 'O' || c == 'U' {
			return false
		}
	}
	return true
}

// shard is the msg/ subdirectory of id: characters 7 and 8 of its time
// part, which change every 32.768 ms and cycle over 1024 directories in
// about 34 seconds. Messages committed together mostly share a directory,
// so the group commit fsyncs few directories.
func shard(id string) string { return id[idTimeLen-5 : idTimeLen-3] }
