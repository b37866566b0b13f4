package store

import (
	"fmt"
	"io"
	"io/fs"
	"os"
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
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening content: %w", err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("opening content: %w", err)
	}
	head := make([]byte, min(fi.Size(), maxHeaderCapture))
	if _, err := io.ReadFull(src, head); err != nil {
		return fmt.Errorf("reading content: %w", err)
	}
	if fi.Mode().IsRegular() && d.link(path, fi) {
		d.head, d.size, d.linked = head, fi.Size(), true
		return nil
	}
	// The copy reads the file already open, which stays readable even if
	// its name went away meanwhile.
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reading content: %w", err)
	}
	if _, err := io.Copy(d, src); err != nil {
		return fmt.Errorf("copying content: %w", err)
	}
	return nil
}

// link makes the blob a hard link to the file at path and reports whether
// it did. The name must still be the file src described when it was
// opened, so that the cached header and size describe the blob.
func (d *Delivery) link(path string, src fs.FileInfo) bool {
	err := d.s.inBlobDir(d.blob, func(p string) error { return d.s.link(path, p) })
	if err != nil {
		return false
	}
	p := d.s.blobPath(d.blob)
	if fi, err := os.Lstat(p); err != nil || !os.SameFile(src, fi) {
		os.Remove(p)
		return false
	}
	return true
}
