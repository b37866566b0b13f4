// Package maildrop owns the directory where `facteur sendmail` leaves
// messages while the server is not running, as Postfix's postdrop(1) does,
// until the server's pickup takes them into the queue.
//
// One file holds one message, its envelope first:
//
//	FACTEUR-MAILDROP 1 LF
//	envelope, a JSON object on one line, LF
//	the message, exactly the envelope's "size" bytes (CRLF line endings)
//
// A file is written under a temporary name starting with ".", fsync'd,
// renamed and its directory fsync'd (package safeio): a name that List
// returns is complete and durable. A file whose magic line, envelope or
// size does not check is corrupt; Quarantine moves it aside, for an
// operator to look at, rather than losing it.
package maildrop

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"facteur/internal/safeio"
)

// magic is the first line of every drop file.
const magic = "FACTEUR-MAILDROP 1\n"

// CorruptDir is the subdirectory that Quarantine moves corrupt files to.
const CorruptDir = "corrupt"

// maxEnvelope bounds the envelope line: a sendmail command line with
// thousands of recipients fits.
const maxEnvelope = 4 << 20

// ErrCorrupt is wrapped by Open's error for a file that is not a complete
// drop file.
var ErrCorrupt = errors.New("corrupt maildrop file")

// Envelope is what travels with a dropped message. The same structure is
// what sendmail sends the running server over the control socket.
type Envelope struct {
	Sender     string    `json:"sender"`         // "" for the null sender
	Recipients []string  `json:"recipients"`     // qualified addresses
	Body       string    `json:"body,omitempty"` // "7BIT" or "8BITMIME"
	UID        int       `json:"uid"`            // of the submitting user
	Time       time.Time `json:"time"`           // of the submission
	Size       int64     `json:"size"`           // of the message, in bytes
}

// Check reports an envelope that cannot be submitted.
func (e *Envelope) Check() error {
	if len(e.Recipients) == 0 {
		return errors.New("no recipients")
	}
	if e.Size < 0 {
		return fmt.Errorf("negative size %d", e.Size)
	}
	for _, r := range e.Recipients {
		if r == "" {
			return errors.New("empty recipient")
		}
	}
	return nil
}

// Write drops msg with env into dir, creating dir (mode 0700) when it is
// missing, and returns the file's name. env.Size is set to len(msg). When
// Write returns nil, the file is on stable storage.
func Write(dir string, env *Envelope, msg []byte) (string, error) {
	env.Size = int64(len(msg))
	if err := env.Check(); err != nil {
		return "", fmt.Errorf("maildrop envelope: %w", err)
	}
	line, err := json.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("encoding the envelope: %w", err)
	}
	if err := safeio.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	var b bytes.Buffer
	b.Grow(len(magic) + len(line) + 1 + len(msg))
	b.WriteString(magic)
	b.Write(line)
	b.WriteByte('\n')
	b.Write(msg)
	name := newName(env.Time)
	if err := safeio.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("writing the maildrop file: %w", err)
	}
	return name, nil
}

// newName returns a unique file name that sorts by submission time.
func newName(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	var r [6]byte
	rand.Read(r[:]) // never fails (crypto/rand)
	return fmt.Sprintf("%016x.%s", t.UnixNano(), hex.EncodeToString(r[:]))
}

// List returns the names of the complete drop files in dir, oldest
// first. A missing dir holds none.
func List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		// Temporary files of writes in progress start with ".".
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// File is an open drop file.
type File struct {
	Envelope Envelope
	// Content reads the message, exactly Envelope.Size bytes.
	Content io.Reader
	f       *os.File
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Open opens the drop file name in dir and reads its envelope. The error
// wraps ErrCorrupt when the file is not a complete drop file.
func Open(dir, name string) (*File, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("opening maildrop file: %w", err)
	}
	df, err := parse(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return df, nil
}

func parse(f *os.File) (*File, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("maildrop file: %w", err)
	}
	br := bufio.NewReader(io.LimitReader(f, int64(len(magic))+maxEnvelope))
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != magic {
		return nil, fmt.Errorf("%w: no maildrop header", ErrCorrupt)
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("%w: envelope line without its end", ErrCorrupt)
	}
	var env Envelope
	if err := json.Unmarshal(line, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrCorrupt, err)
	}
	if err := env.Check(); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrCorrupt, err)
	}
	off := int64(len(magic) + len(line))
	if fi.Size()-off != env.Size {
		return nil, fmt.Errorf("%w: message of %d bytes, envelope says %d", ErrCorrupt, fi.Size()-off, env.Size)
	}
	return &File{Envelope: env, Content: io.NewSectionReader(f, off, env.Size), f: f}, nil
}

// Remove removes the drop file name from dir, durably.
func Remove(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("removing maildrop file: %w", err)
	}
	return safeio.SyncDir(dir)
}

// Quarantine moves the drop file name into dir's CorruptDir, durably.
func Quarantine(dir, name string) error {
	cdir := filepath.Join(dir, CorruptDir)
	if err := safeio.MkdirAll(cdir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", cdir, err)
	}
	if err := os.Rename(filepath.Join(dir, name), filepath.Join(cdir, name)); err != nil {
		return fmt.Errorf("moving maildrop file aside: %w", err)
	}
	if err := safeio.SyncDir(cdir); err != nil {
		return err
	}
	return safeio.SyncDir(dir)
}
