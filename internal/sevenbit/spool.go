package sevenbit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool holds one part's body while the converter finds out whether it
// must be re-encoded: in memory up to limit octets, then in a temporary
// file that is removed as soon as it is created, so that nothing is left
// behind whatever happens to the process.
type spool struct {
	limit int
	dir   string
	mem   []byte
	f     *os.File
	fw    *bufio.Writer
	named string // the file's name if it could not be removed while open
}

// write appends p.
func (s *spool) write(p []byte) error {
	if s.f == nil {
		if len(s.mem)+len(p) <= s.limit {
			s.mem = append(s.mem, p...)
			return nil
		}
		if err := s.spill(); err != nil {
			return err
		}
	}
	if _, err := s.fw.Write(p); err != nil {
		return fmt.Errorf("sevenbit: spooling a body part: %w", err)
	}
	return nil
}

// spill moves what is in memory to a new temporary file.
func (s *spool) spill() error {
	f, err := os.CreateTemp(s.dir, "sevenbit-*")
	if err != nil {
		return fmt.Errorf("sevenbit: spooling a body part: %w", err)
	}
	if os.Remove(f.Name()) != nil {
		s.named = f.Name() // removed by close instead
	}
	s.f = f
	if s.fw == nil {
		s.fw = bufio.NewWriterSize(f, pieceSize)
	} else {
		s.fw.Reset(f)
	}
	_, err = s.fw.Write(s.mem)
	s.mem = s.mem[:0]
	if err != nil {
		return fmt.Errorf("sevenbit: spooling a body part: %w", err)
	}
	return nil
}

// reader returns the spooled octets from the first.
func (s *spool) reader() (io.Reader, error) {
	if s.f == nil {
		return bytes.NewReader(s.mem), nil
	}
	if err := s.fw.Flush(); err != nil {
		return nil, fmt.Errorf("sevenbit: spooling a body part: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("sevenbit: rereading a spooled body part: %w", err)
	}
	return s.f, nil
}

// reset empties the spool for the next part. A temporary file is closed:
// a large part is rare, and a closed file holds no disk space.
func (s *spool) reset() {
	s.mem = s.mem[:0]
	s.close()
}

// close releases the temporary file, if any.
func (s *spool) close() {
	if s.f == nil {
		return
	}
	s.f.Close()
	if s.named != "" {
		os.Remove(s.named)
		s.named = ""
	}
	s.f = nil
}
