package sevenbit

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"testing"
)

// checkWire fails t unless out is fit for a 7-bit transport: every octet
// under 128 (unless eightBitHeader, when 8-bit octets were in headers),
// every line ending in CRLF, no CR elsewhere, no line over 998 octets.
func checkWire(t *testing.T, out []byte, eightBitHeader bool) {
	t.Helper()
	if err := wireError(out, eightBitHeader); err != nil {
		t.Fatalf("%v in output:\n%q", err, out)
	}
}

func wireError(out []byte, eightBitHeader bool) error {
	if len(out) > 0 && !bytes.HasSuffix(out, crlf) {
		return fmt.Errorf("last line without CRLF")
	}
	for n, line := range bytes.SplitAfter(out, lf) {
		if len(line) == 0 {
			continue
		}
		body, ok := bytes.CutSuffix(line, crlf)
		if !ok {
			return fmt.Errorf("line %d does not end in CRLF: %q", n+1, line)
		}
		if len(body) > maxLine {
			return fmt.Errorf("line %d has %d octets", n+1, len(body))
		}
		for _, c := range body {
			if c == '\r' {
				return fmt.Errorf("line %d has a lone CR: %q", n+1, line)
			}
			if c >= 0x80 && !eightBitHeader {
				return fmt.Errorf("line %d has octet %#x", n+1, c)
			}
		}
	}
	return nil
}

// mimeLeaf is a leaf entity as a MIME reader sees it.
type mimeLeaf struct {
	mediaType string
	cte       string
	body      []byte // as in the message, undecoded
	atEnd     bool   // the body runs to the end of the message
}

// parseLeaves walks msg with the standard library's readers
// (net/textproto, mime/multipart), the way a mail reader does, and returns its leaves.
// It returns an error where those readers refuse the structure.
func parseLeaves(msg []byte) ([]mimeLeaf, error) {
	var out []mimeLeaf
	err := walkEntity(msg, 0, "text/plain", true, &out)
	return out, err
}

func walkEntity(msg []byte, depth int, def string, atEnd bool, out *[]mimeLeaf) error {
	// net/textproto rather than net/mail, which takes any line with a
	// colon for a header field.
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg)))
	h, err := tp.ReadMIMEHeader()
	if err != nil && (err != io.EOF || len(h) == 0) {
		return err
	}
	body, err := io.ReadAll(tp.R)
	if err != nil {
		return err
	}
	return walkBody(h, body, depth, def, atEnd, out)
}

func walkBody(h textproto.MIMEHeader, body []byte, depth int, def string, atEnd bool, out *[]mimeLeaf) error {
	for k := range h {
		// net/textproto takes "a b: c" for a field (go.dev/issue/34540);
		// RFC 5322 §2.2 does not.
		if strings.ContainsAny(k, " \t") {
			return fmt.Errorf("field name %q", k)
		}
	}
	mt, params := def, map[string]string{}
	if v, ok := h["Content-Type"]; ok {
		var err error
		if mt, params, err = mime.ParseMediaType(v[0]); err != nil {
			return err
		}
	}
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	switch cte {
	case "", "7bit", "8bit", "binary":
	case "quoted-printable", "base64":
		*out = append(*out, mimeLeaf{mt, cte, body, atEnd})
		return nil
	default:
		return fmt.Errorf("unknown encoding %q", cte)
	}
	b := params["boundary"]
	switch {
	case depth >= MaxDepth:
	case strings.HasPrefix(mt, "multipart/") && b != "" && len(b) <= maxBoundary:
		def := "text/plain"
		if mt == "multipart/digest" {
			def = "message/rfc822"
		}
		mr := multipart.NewReader(bytes.NewReader(body), b)
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			pb, err := io.ReadAll(p)
			if err != nil {
				return err
			}
			if err := walkBody(p.Header, pb, depth+1, def, false, out); err != nil {
				return err
			}
		}
	case mt == "message/rfc822":
		return walkEntity(body, depth+1, "text/plain", atEnd, out)
	}
	*out = append(*out, mimeLeaf{mt, cte, body, atEnd})
	return nil
}

// decode returns the content of a leaf.
func (l mimeLeaf) decode() ([]byte, error) {
	switch l.cte {
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(l.body)))
	case "base64":
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(l.body)))
	}
	return l.body, nil
}

// strictCRLF reports whether every CR and LF in msg is part of a CRLF and
// no line is longer than maxLine: the input for which this package and the
// standard library's readers must find the same structure.
func strictCRLF(msg []byte) bool {
	for i, c := range msg {
		switch c {
		case '\r':
			if i+1 >= len(msg) || msg[i+1] != '\n' {
				return false
			}
		case '\n':
			if i == 0 || msg[i-1] != '\r' {
				return false
			}
		}
	}
	for line := range bytes.SplitSeq(msg, crlf) {
		if len(line) > maxLine {
			return false
		}
	}
	return true
}

// sameContent checks that the leaves of out decode to the content of the
// leaves of in. A leaf of in whose own encoding does not decode is only
// counted. It returns an error when the standard library cannot read in.
func sameContent(in, out []byte) error {
	a, err := parseLeaves(in)
	if err != nil {
		return err
	}
	b, err := parseLeaves(out)
	if err != nil {
		return fmt.Errorf("output unreadable where the input was readable: %w", err)
	}
	if len(a) != len(b) {
		return fmt.Errorf("%d leaves in the input, %d in the output", len(a), len(b))
	}
	for i := range a {
		if a[i].mediaType != b[i].mediaType {
			return fmt.Errorf("leaf %d: type %q became %q", i, a[i].mediaType, b[i].mediaType)
		}
		want, err := a[i].decode()
		if err != nil {
			continue
		}
		got, err := b[i].decode()
		if err != nil {
			return fmt.Errorf("leaf %d (%s) does not decode: %v\n%q", i, b[i].cte, err, b[i].body)
		}
		// At the end of the message, the output's last line has the CRLF
		// the input's may have lacked.
		if !bytes.Equal(got, want) && !(a[i].atEnd && !bytes.HasSuffix(want, crlf) && bytes.Equal(got, append(want, crlf...))) {
			return fmt.Errorf("leaf %d (%s as %s): content changed:\n got %q\nwant %q", i, a[i].cte, b[i].cte, got, want)
		}
	}
	return nil
}
