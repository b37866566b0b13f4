package inspect

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	maxNameLen    = 200 // octets of an extracted file's name
	maxNameTries  = 1000
	extractedMode = 0o644
)

// DirExtractor writes attachments into one directory under safe names:
// never outside it (the directory is opened as an os.Root, so neither a
// name nor a symbolic link leads out), never over an existing file.
type DirExtractor struct {
	root *os.Root
}

// NewDirExtractor opens dir, creating it when needed.
func NewDirExtractor(dir string) (*DirExtractor, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("extraction directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("extraction directory: %w", err)
	}
	return &DirExtractor{root: root}, nil
}

// Close releases the directory.
func (x *DirExtractor) Close() error { return x.root.Close() }

// Create makes a new file for p: its file name made safe, or
// "part-ID.bin" when it has none, with "-1", "-2"... before the extension
// when the name is taken.
func (x *DirExtractor) Create(p *Part) (string, io.WriteCloser, error) {
	base := SafeFileName(p.Filename)
	if base == "" {
		ext := ".bin"
		if strings.HasPrefix(p.Type, "text/") {
			ext = ".txt"
		}
		base = "part-" + p.ID + ext
	}
	for i := 0; i < maxNameTries; i++ {
		name := withSuffix(base, i)
		f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, extractedMode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return name, f, nil
	}
	return "", nil, fmt.Errorf("%q and %d variants of it exist already", base, maxNameTries)
}

// withSuffix puts "-i" before the extension of name, for i > 0.
func withSuffix(name string, i int) string {
	if i == 0 {
		return name
	}
	ext := path.Ext(name)
	if ext == name || len(ext) > 16 {
		ext = ""
	}
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(name, ext), i, ext)
}

// SafeFileName makes a file name from a message safe to create in a
// directory: only its last path element (after "/" or "\"), without
// control and format characters (a right-to-left override would disguise
// the extension), without leading dots and surrounding spaces, at most
// 200 octets with the extension kept. It returns "" when nothing is left.
func SafeFileName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	name = strings.TrimSpace(name)
	if len(name) > maxNameLen {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		stem := name[:maxNameLen-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		name = stem + ext
	}
	return name
}
