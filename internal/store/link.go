package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// LinkFrom takes the content shared by every recipient from the file at
// path instead of from Write. It is called at most once, before any Write.
//
// The file must be complete, fsync'd and never modified afterwards, which
// is what queue.Message.Path promises of a committed queue file: the queue
// fsyncs the content before its 250 (DESIGN.md, "Storage and durability").
// The blob then becomes a hard link to that file: no byte is copied, and
// the data need no second fsync because the writer of the file has made
// them durable already. Commit still makes the blob's new directory entry
// durable, with the blob-directory fsync every group commit does before
// any row names the blob. The file's own name may be removed afterwards:
// the blob's link keeps the data.
//
// Where no link can be made (another file system: EXDEV; hard links
// refused: EPERM, EMLINK, ENOTSUP, ...), the content is copied from the
// file and Commit fsyncs the copy, as for Write.
func (d *Delivery) LinkFrom(path string) error {
	if d.done {
		return errFinished
	}
	if d.err != nil {
		return d.err
	}
	if d.f != nil || d.linked || d.size > 0 {
		return errMixed
	}
	if err := d.linkFrom(path); err != nil {
		d.err = err // Commit must not take a partial blob
		return err
	}
	return nil
}

func (d *Delivery) linkFrom(path string) error {
	linked, err := d.linkBlob(path)
	if err != nil {
		return err
	}
	if linked {
		return nil
	}
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening content: %w", err)
	}
	defer src.Close()
	if _, err := io.Copy(d, src); err != nil {
		return fmt.Errorf("copying content: %w", err)
	}
	return nil
}

// linkBlob makes the blob a hard link to the file at path, then reads the
// size and the header to cache from the blob itself, so that they describe
// the linked file whatever happens to path meanwhile. It reports false,
// leaving no blob, where no link can be made or the link is not a regular
// file (link(2) links a symbolic link itself, not its target).
func (d *Delivery) linkBlob(path string) (bool, error) {
	err := d.s.inBlobDir(d.blob, func(p string) error { return d.s.link(path, p) })
	if errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("opening content: %w", err)
	}
	if err != nil {
		return false, nil
	}
	p := d.s.blobPath(d.blob)
	head, size, ok, err := readLinked(p)
	if !ok || err != nil {
		os.Remove(p)
		return false, err
	}
	d.head, d.size, d.linked = head, size, true
	return true, nil
}

// readLinked reads the size and the head of the blob file at p, and
// reports false if it is not a regular file. It uses the descriptor
// directly: an os.File would also try to register it with the network
// poller and set a finalizer, which cost more than the read itself.
func readLinked(p string) (head []byte, size int64, ok bool, err error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, false, nil // a symbolic link (ELOOP) or unreadable: copy
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, 0, false, nil
	}
	head, err = readHead(fdReader(fd), st.Size)
	if err != nil {
		return nil, 0, false, fmt.Errorf("reading content: %w", err)
	}
	return head, st.Size, true, nil
}

// fdReader reads a file descriptor.
type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(r), p)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// headChunk is the first read of a linked file's header: most header
// sections end within it, and the cached fields need nothing past their end.
const headChunk = 4 << 10

// readHead reads from r, of the given size, what parseHeader needs: up to
// the empty line that ends the header section (RFC 5322 §2.1), at most
// maxHeaderCapture bytes.
func readHead(r io.Reader, size int64) ([]byte, error) {
	limit := int(min(size, maxHeaderCapture))
	head := make([]byte, 0, min(limit, headChunk))
	for len(head) < limit {
		n := min(limit-len(head), max(len(head), headChunk))
		head = slices.Grow(head, n)
		k, err := io.ReadFull(r, head[len(head):len(head)+n])
		scan := max(len(head)-3, 0) // the end may straddle two reads
		head = head[:len(head)+k]
		if err != nil {
			return nil, err
		}
		if headerEnds(head[scan:]) {
			break
		}
	}
	return head, nil
}

// headerEnds reports whether b holds an empty line ("\n\r\n" or "\n\n").
func headerEnds(b []byte) bool {
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n"))
}
