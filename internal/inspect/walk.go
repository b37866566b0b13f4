package inspect

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"

	"facteur/internal/lineread"
)

// pieceSize is the most of one line handed out at once: longer lines come
// in several pieces, so that no line, however long, is held whole.
const pieceSize = 64 << 10

// maxLine is the longest line RFC 5322 §2.1.1 allows, without its CRLF.
const maxLine = 998

// Kinds of term.
const (
	termEOF   = iota // the input ended
	termDelim        // a delimiter line, "--boundary"
	termClose        // a close delimiter line, "--boundary--"
)

// term is what ended a piece of the message: the end of the input or a
// boundary line of one of the enclosing multiparts.
type term struct {
	kind  int
	level int   // index of the boundary in walker.bounds
	end   int64 // where the content before it ends: the CRLF before a boundary belongs to the boundary
	line  int
}

// walker reads a message once, part by part.
type walker struct {
	lr     *lineread.Reader
	opt    Options
	probs  *problems
	bounds []string // boundaries of the enclosing multiparts, outermost first
	parts  int
	where  string // what is being read, for the problems of lines
	mbox   string // the mbox "From " line that came before the message
	dec    *mime.WordDecoder
}

func newWalker(r io.Reader, opt Options) *walker {
	return &walker{lr: lineread.NewReader(r, pieceSize), opt: opt, probs: newProblems(), where: "header", dec: wordDecoder()}
}

// next reads a piece, noting the lines that RFC 5322 §2.1.1 forbids.
func (w *walker) next() (lineread.Piece, error) {
	p, err := w.lr.Next()
	if err == nil && p.End && p.Length > maxLine {
		w.probs.add("longline", w.where, p.Line, "RFC 5322 §2.1.1",
			fmt.Sprintf("line of %d characters: at most %d are allowed", p.Length, maxLine))
	}
	return p, err
}

// boundary reports whether p is a boundary line of an enclosing
// multipart, the innermost first (RFC 2046 §5.1.1: "--" boundary, "--"
// more for the close delimiter, then optional linear white space).
func (w *walker) boundary(p lineread.Piece) (term, bool) {
	d := p.Data
	if !p.Start || !p.End || len(d) < 3 || d[0] != '-' || d[1] != '-' || len(w.bounds) == 0 {
		return term{}, false
	}
	d = d[2:]
	for i := len(w.bounds) - 1; i >= 0; i-- {
		b := w.bounds[i]
		if !bytes.HasPrefix(d, []byte(b)) {
			continue
		}
		rest, kind := d[len(b):], termDelim
		if bytes.HasPrefix(rest, []byte("--")) {
			rest, kind = rest[2:], termClose
		}
		if len(bytes.Trim(rest, " \t")) != 0 {
			continue
		}
		return term{kind: kind, level: i, end: p.Offset - int64(p.PrevEOL), line: p.Line}, true
	}
	return term{}, false
}

// message reads a message: its header, then its body. prefix is "" for the
// input and "ID." for a message/rfc822 part.
func (w *walker) message(prefix string, depth int) (*Message, term, error) {
	where := "header"
	if prefix != "" {
		where = "header of message " + strings.TrimSuffix(prefix, ".")
	} else if err := w.skipMboxLine(); err != nil {
		return nil, term{}, err
	}
	fields, t, start, err := w.header(where)
	if err != nil {
		return nil, t, err
	}
	m := &Message{Header: fields}
	w.analyzeMessageHeader(m, where)
	body := w.partFrom(fields, "text/plain", where)
	childPrefix := prefix
	if isMultipart(body.Type) {
		body.ID = prefix + "TEXT"
	} else {
		body.ID = prefix + "1"
	}
	m.Body = body
	w.parts++
	if start < 0 { // the header ended at a boundary or the end: no body
		return m, t, nil
	}
	t, err = w.body(body, childPrefix, depth, start)
	return m, t, err
}

// skipMboxLine skips the "From sender date" line that starts a message
// taken from an mbox file: it is the mailbox's, not the message's.
func (w *walker) skipMboxLine() error {
	pc, err := w.next()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading message: %w", err)
	}
	if pc.Start && pc.End && bytes.HasPrefix(pc.Data, []byte("From ")) {
		w.mbox = strings.ToValidUTF8(string(pc.Data), "\uFFFD")
		return nil
	}
	w.lr.Unread(pc)
	return nil
}

// bodyPart reads one part of a multipart.
func (w *walker) bodyPart(id string, defType string, depth int) (*Part, term, error) {
	where := "header of part " + id
	fields, t, start, err := w.header(where)
	if err != nil {
		return nil, t, err
	}
	w.checkPartHeader(fields, where)
	p := w.partFrom(fields, defType, where)
	p.ID, p.Header = id, fields
	if start < 0 {
		return p, t, nil
	}
	t, err = w.body(p, id+".", depth, start)
	return p, t, err
}

// body reads p's body, which starts at offset start.
func (w *walker) body(p *Part, childPrefix string, depth int, start int64) (term, error) {
	var t term
	var err error
	switch {
	case isComposite(p.Type) && depth >= MaxDepth:
		w.probs.add("depth", "part "+p.ID, 0, "bound of this analysis",
			fmt.Sprintf("nested deeper than %d levels: the part is not analysed further", MaxDepth))
		t, err = w.leaf(p)
	case isComposite(p.Type) && !identityEncoding(p.Encoding):
		w.probs.add("compositecte", "part "+p.ID, 0, "RFC 2045 §6.4",
			fmt.Sprintf("%s part with Content-Transfer-Encoding %s: only 7bit, 8bit or binary are allowed", p.Type, p.Encoding))
		t, err = w.leaf(p)
	case isMultipart(p.Type):
		t, err = w.multipart(p, childPrefix, depth)
	case isMessage(p.Type):
		var m *Message
		m, t, err = w.message(p.ID+".", depth+1)
		p.Message = m
	default:
		t, err = w.leaf(p)
	}
	if err != nil {
		return t, err
	}
	p.RawSize = max(t.end-start, 0)
	if p.Message != nil {
		p.Size = p.RawSize
	}
	return t, nil
}

// multipart reads a multipart body (RFC 2046 §5.1): preamble, parts,
// close delimiter, epilogue.
func (w *walker) multipart(p *Part, childPrefix string, depth int) (term, error) {
	where := "part " + p.ID
	b := p.Params["boundary"]
	if b == "" {
		w.probs.add("noboundary", where, 0, "RFC 2046 §5.1.1", "multipart without a boundary parameter: read as one opaque part")
		return w.leaf(p)
	}
	if len(b) > 70 || strings.HasSuffix(b, " ") {
		w.probs.add("badboundary", where, 0, "RFC 2046 §5.1.1", "the boundary must be 1 to 70 characters, not ending in a space")
	}
	defType := "text/plain"
	if p.Type == "multipart/digest" {
		defType = "message/rfc822" // RFC 2046 §5.1.5
	}
	w.bounds = append(w.bounds, b)
	level := len(w.bounds) - 1
	defer func() { w.bounds = w.bounds[:level] }()
	w.where = "preamble of part " + p.ID
	t, err := w.skip()
	n, skipped := 0, 0
	for err == nil && t.level == level && t.kind == termDelim {
		n++
		id := childPrefix + strconv.Itoa(n)
		if w.parts >= MaxParts {
			skipped++
			w.where = "part " + id
			t, err = w.skip()
			continue
		}
		w.parts++
		var child *Part
		child, t, err = w.bodyPart(id, defType, depth+1)
		if child != nil {
			p.Parts = append(p.Parts, child)
		}
	}
	if err != nil {
		return t, err
	}
	if skipped > 0 {
		w.probs.add("maxparts", where, 0, "bound of this analysis",
			fmt.Sprintf("%d parts past the first %d are counted, not described", skipped, MaxParts))
	}
	if n == 0 {
		w.probs.add("noparts", where, 0, "RFC 2046 §5.1.1", "multipart with no body part")
	}
	if t.level != level || t.kind != termClose {
		txt := fmt.Sprintf("boundary %q never closed: no %q line", b, "--"+b+"--")
		if t.kind != termEOF {
			txt += " before the enclosing multipart's boundary"
		}
		w.probs.add("unclosed", where, 0, "RFC 2046 §5.1.1", txt)
		return t, nil
	}
	// The epilogue runs to the enclosing boundary or the end.
	w.bounds = w.bounds[:level]
	w.where = "epilogue of part " + p.ID
	return w.skip()
}

// skip reads lines up to a boundary or the end of the input.
func (w *walker) skip() (term, error) {
	for {
		pc, err := w.next()
		if err == io.EOF {
			return term{kind: termEOF, end: w.lr.Offset()}, nil
		}
		if err != nil {
			return term{}, fmt.Errorf("reading message: %w", err)
		}
		if t, ok := w.boundary(pc); ok {
			return t, nil
		}
	}
}

// leaf reads a part's body to its end, decoding it into its sink.
func (w *walker) leaf(p *Part) (term, error) {
	w.where = "part " + p.ID
	s, err := w.newSink(p)
	if err != nil {
		return term{}, err
	}
	d := newDecoder(p.Encoding, s)
	check := newRawCheck(p.Encoding)
	var held []byte // line ending not yet given to d: it belongs to a boundary that may follow
	var t term
	for {
		pc, err := w.next()
		if err == io.EOF {
			if held != nil {
				d.lineEnd(held)
			}
			t = term{kind: termEOF, end: w.lr.Offset()}
			break
		}
		if err != nil {
			s.abort()
			return term{}, fmt.Errorf("reading message: %w", err)
		}
		if bt, ok := w.boundary(pc); ok {
			t = bt
			break
		}
		if held != nil {
			d.lineEnd(held)
			held = nil
		}
		check.scan(pc)
		d.write(pc.Data)
		if pc.End {
			held = pc.Ending()
		}
		if s.err != nil {
			s.abort()
			return term{}, s.err
		}
	}
	d.close()
	check.report(w.probs, w.where, p.Encoding)
	d.report(w.probs, w.where)
	if err := s.close(w, p); err != nil {
		return term{}, err
	}
	return t, nil
}

func isMultipart(t string) bool { return strings.HasPrefix(t, "multipart/") }

// isMessage reports the message types whose body is a message to walk:
// message/rfc822 and its UTF-8 form message/global (RFC 6532 §3.7).
func isMessage(t string) bool { return t == "message/rfc822" || t == "message/global" }

func isComposite(t string) bool { return isMultipart(t) || isMessage(t) }

func identityEncoding(e string) bool { return e == "7bit" || e == "8bit" || e == "binary" }
