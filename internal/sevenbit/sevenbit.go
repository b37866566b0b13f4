// Package sevenbit converts a message with 8-bit content to 7 bit, for a
// next hop that announces neither 8BITMIME nor BINARYMIME: RFC 6152 §3
// has a client that relays 8-bit mail to such a server either convert it
// to 7 bit or return it as undeliverable (RFC 3030 §3 likewise for
// binary content).
//
// It walks the MIME structure (RFC 2045, RFC 2046) as Postfix's 8-bit
// downgrade does (mime_state.c): multipart bodies part by part, nested
// message/rfc822 messages, which may not be encoded (RFC 2046 §5.2.1), as
// messages. A leaf part whose body cannot go over a 7-bit transport as it
// is (an octet over 127, a NUL, a lone CR, a line over 998 octets) is
// re-encoded, text/* as quoted-printable and anything else as base64, and
// its Content-Transfer-Encoding field is replaced; everything else goes
// out byte for byte, with CRLF line endings. Header fields are not
// converted: 8-bit headers need SMTPUTF8, and are only reported.
//
// The decision for a part needs its whole body before its header can be
// written, so each leaf body is held, in memory up to a limit and past it
// in a temporary file that is unlinked at once. Nothing else is held but
// the header section being read.
package sevenbit

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"facteur/internal/lineread"
)

// MaxDepth is how deep multipart and message/rfc822 entities are walked
// into. Past it an entity is a leaf, re-encoded whole if it must be,
// even though RFC 2045 §6.4 allows only identity encodings on composite
// types: this keeps the output 7-bit and decodable.
const MaxDepth = 100

// DefaultMemoryLimit is how much of one body part a Converter holds in
// memory when its MemoryLimit is 0.
const DefaultMemoryLimit = 1 << 20

// pieceSize is the most of one line read at once. Delimiter lines and
// the lines that start a header field are far shorter, so they always
// come whole; longer lines come in several pieces.
const pieceSize = 64 << 10

// maxBoundary is the longest boundary looked for. RFC 2046 §5.1.1 allows
// 70 characters; longer ones are seen in the wild, but one that would
// make its delimiter line too long to send marks no structure, and the
// entity is a leaf.
const maxBoundary = maxLine - 4

// Stats says what Convert did.
type Stats struct {
	// Converted counts the body parts re-encoded.
	Converted int
	// EightBitHeader reports a header field with an octet over 127, in
	// the message or in one of its parts. Such fields are left as they
	// are: the message still needs SMTPUTF8 (RFC 6531) to go out.
	EightBitHeader bool
}

// Converter converts messages; its zero value is ready to use, and it
// may be used by several goroutines at once.
type Converter struct {
	// TempDir is where a body part larger than MemoryLimit is spooled
	// while it is converted; "" means os.TempDir().
	TempDir string
	// MemoryLimit is how much of one body part is held in memory;
	// 0 means DefaultMemoryLimit.
	MemoryLimit int

	pieceSize int // for tests: how much of a line is read at once; 0 means pieceSize
}

// Convert copies the message r to w so that every octet of the result is
// 7-bit and every line is at most 998 octets and a CRLF, with a zero
// Converter. See Converter.Convert.
func Convert(w io.Writer, r io.Reader) (Stats, error) {
	var c Converter
	return c.Convert(w, r)
}

// Convert copies the message r to w so that every octet of the result is
// 7-bit and every line is at most 998 octets and a CRLF, but for header
// fields with 8-bit octets, which are copied and reported in Stats.
//
// A line may end in CRLF or in a bare LF; the output has CRLF. A part
// whose body is 7-bit goes out as it is, header and body, but for a
// Content-Transfer-Encoding of "binary", which becomes "7bit", and for
// "8bit" or "binary" on a multipart or message/rfc822 entity, which
// becomes "7bit" as its content now is (as Postfix does). A part with
// 8-bit content is re-encoded:
//
//   - declared 7bit, 8bit, binary or nothing: text/* as quoted-printable
//     (line breaks stay line breaks), anything else as base64 of its
//     octets (of its lines with CRLF unless it is binary);
//   - declared quoted-printable or base64 but broken by 8-bit octets,
//     NULs, lone CRs or lines too long: repaired in its own encoding,
//     so that it decodes to what a lenient decoder made of it before,
//     which is what its recipient is meant to see (wrapping the broken
//     encoding in base64 would show the recipient the encoding instead);
//   - any other encoding: as base64 of its lines.
//
// A message without MIME-Version whose body is re-encoded gets one. A
// preamble or epilogue line that cannot go out as it is gets
// quoted-printable escapes: nobody decodes it, but nothing is lost. A
// header line over 998 octets is folded, and a lone CR in a header
// field becomes a space.
//
// A multipart entity whose closing delimiter never comes ends where its
// enclosing entity does (RFC 2046 §5.1.2), at the delimiter of an outer
// boundary or at the end of the input; one without a boundary parameter
// is a leaf. Convert always reads r to its end unless it fails; on an
// error, w has received part of the message.
func (c *Converter) Convert(w io.Writer, r io.Reader) (Stats, error) {
	limit := c.MemoryLimit
	if limit <= 0 {
		limit = DefaultMemoryLimit
	}
	size := c.pieceSize
	if size <= 0 {
		size = pieceSize
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	wk := &walker{
		lr: lineread.NewReader(r, size),
		o:  &output{bw: bw, bol: true},
		sp: &spool{limit: limit, dir: c.TempDir},
	}
	defer wk.sp.close()
	_, err := wk.entity(0, "text/plain", true)
	if err == nil && wk.o.err == nil {
		wk.o.err = bw.Flush()
	}
	if wk.o.err != nil && (err == nil || err == wk.o.err) {
		err = fmt.Errorf("sevenbit: writing the message: %w", wk.o.err)
	}
	return wk.stats, err
}

// Needs reports whether Convert would re-encode anything in the message:
// whether a body part, preamble or epilogue holds an octet over 127, a
// NUL, a lone CR or a line too long, a header line is too long or holds
// a lone CR, or a part is declared binary. It reads the message once and
// holds nothing, so that the client can skip Convert for a message
// announced as 8BITMIME that is in fact 7-bit. 8-bit octets in header
// fields alone do not count: Convert leaves them.
func Needs(r io.Reader) (bool, error) {
	wk := &walker{lr: lineread.NewReader(r, pieceSize), o: &output{bol: true}, scan: true}
	_, err := wk.entity(0, "text/plain", true)
	if errors.Is(err, errNeed) {
		return true, nil
	}
	return false, err
}

// errNeed stops the walk of Needs at the first thing to convert.
var errNeed = errors.New("sevenbit: conversion needed")

// walker walks one message.
type walker struct {
	lr     *lineread.Reader
	rr     *lineread.Reader // rereads the spool
	o      *output
	sp     *spool
	scan   bool     // Needs: stop at the first thing to convert, write nothing
	bounds [][]byte // the active boundaries, outermost first
	h      header   // the header section being read
	stats  Stats
}

// stop is how a body, preamble or epilogue ended: at a delimiter line of
// one of the active boundaries, or at the end of the input.
type stop struct {
	level int  // index in bounds of the boundary; -1 at the end of the input
	close bool // a close-delimiter: "--" after the boundary
	line  []byte
}

var eof = stop{level: -1}

func readError(err error) error {
	return fmt.Errorf("sevenbit: reading the message: %w", err)
}

// entity converts one entity, header and body, up to the delimiter line
// that ends it.
func (w *walker) entity(depth int, def string, top bool) (stop, error) {
	st, err := w.readHeader()
	if err != nil {
		return st, err
	}
	h := &w.h
	if h.eightBit {
		w.stats.EightBitHeader = true
	}
	if w.scan && h.changed {
		return st, errNeed
	}
	if h.end == endBoundary || h.end == endEOF {
		h.write(w.o, "", false)
		return st, w.o.err
	}
	mt, boundary := h.contentType(def)
	cte := h.encoding()
	if w.scan && cte == "binary" {
		return st, errNeed // to be relabelled at least (RFC 3030 §3)
	}
	identity := cte == "" || cte == "7bit" || cte == "8bit" || cte == "binary"
	if !identity || depth >= MaxDepth {
		return w.leaf(mt, cte, top)
	}
	relabel := ""
	if cte == "8bit" || cte == "binary" {
		relabel = "7bit"
	}
	switch {
	case strings.HasPrefix(mt, "multipart/") && boundary != "" && len(boundary) <= maxBoundary:
		w.startBody(relabel, false, h.end == endBlank)
		// RFC 2046 §5.1.5: in a digest, parts are messages by default.
		def := "text/plain"
		if mt == "multipart/digest" {
			def = "message/rfc822"
		}
		return w.multipart(depth+1, boundary, def)
	case mt == "message/rfc822":
		w.startBody(relabel, false, h.end == endBlank)
		return w.entity(depth+1, "text/plain", false)
	}
	return w.leaf(mt, cte, top)
}

// startBody writes the header section held, and the empty line after it
// if blank.
func (w *walker) startBody(cte string, mimeVersion, blank bool) {
	w.h.write(w.o, cte, mimeVersion)
	if blank {
		w.o.write(crlf)
	}
}

// readHeader reads a header section into w.h, up to the empty line that
// ends it, a line that is not a header field (given back, for the body),
// a delimiter line (returned), the end of the input, or headerLimit.
func (w *walker) readHeader() (stop, error) {
	h := &w.h
	h.reset()
	kind := lineOther
	for {
		p, err := w.lr.Next()
		if err == io.EOF {
			h.end = endEOF
			return eof, nil
		}
		if err != nil {
			return stop{}, readError(err)
		}
		if p.Start {
			if p.End {
				if st, ok := w.match(p.Data); ok {
					h.end = endBoundary
					return st, nil
				}
				if len(p.Data) == 0 {
					h.end = endBlank
					return stop{}, nil
				}
			}
			kind = classify(p.Data, len(h.fields) > 0)
			if kind == lineOther || len(h.buf)+len(p.Data) > headerLimit {
				w.lr.Unread(p)
				h.end = endBody
				return stop{}, nil
			}
		} else if len(h.buf)+len(h.line)+len(p.Data) > headerLimit {
			h.finishLine(kind)
			w.lr.Unread(p)
			h.end = endBody
			return stop{}, nil
		}
		h.line = append(h.line, p.Data...)
		if p.End {
			h.finishLine(kind)
		}
	}
}

// match reports whether line is a delimiter line of an active boundary,
// the innermost first: "--", the boundary, "--" for the close-delimiter,
// and transport padding (RFC 2046 §5.1.1), as Go's mime/multipart reads
// it.
func (w *walker) match(line []byte) (stop, bool) {
	if len(line) < 2 || line[0] != '-' || line[1] != '-' {
		return stop{}, false
	}
	for i := len(w.bounds) - 1; i >= 0; i-- {
		b := w.bounds[i]
		if !bytes.HasPrefix(line[2:], b) {
			continue
		}
		rest := line[2+len(b):]
		closing := bytes.HasPrefix(rest, []byte("--"))
		if closing {
			rest = rest[2:]
		}
		if len(bytes.TrimLeft(rest, " \t")) == 0 {
			return stop{level: i, close: closing, line: bytes.Clone(line)}, true
		}
	}
	return stop{}, false
}

// multipart converts the body of a multipart entity: preamble, parts,
// epilogue.
func (w *walker) multipart(depth int, boundary, def string) (stop, error) {
	own := len(w.bounds)
	w.bounds = append(w.bounds, []byte(boundary))
	defer func() { w.bounds = w.bounds[:own] }()
	st, err := w.text()
	for err == nil && st.level == own {
		if err = w.delimiter(st); err != nil {
			break
		}
		if st.close {
			w.bounds = w.bounds[:own]
			return w.text()
		}
		st, err = w.entity(depth, def, false)
	}
	return st, err
}

// delimiter writes a delimiter line. Transport padding that would make
// it too long is dropped, as RFC 2046 §5.1.1 lets transports do.
func (w *walker) delimiter(st stop) error {
	line := st.line
	if len(line) > maxLine {
		if w.scan {
			return errNeed
		}
		n := 2 + len(w.bounds[st.level])
		if st.close {
			n += 2
		}
		line = line[:n]
	}
	w.o.line(line)
	return w.o.err
}

// text copies a preamble or an epilogue up to a delimiter line.
func (w *walker) text() (stop, error) {
	q := qpWriter{o: w.o, bounds: w.bounds}
	for w.o.err == nil {
		p, err := w.lr.Next()
		if err == io.EOF {
			return eof, nil
		}
		if err != nil {
			return stop{}, readError(err)
		}
		if p.Start && p.End {
			if st, ok := w.match(p.Data); ok {
				return st, nil
			}
			if clean(p.Data) {
				w.o.line(p.Data)
				continue
			}
		}
		if w.scan {
			return stop{}, errNeed
		}
		q.write(p.Data)
		if p.End {
			q.endLine(true)
		}
	}
	return stop{}, w.o.err
}

// clean reports whether line may go out as it is in a 7bit body
// (RFC 2045 §2.7).
func clean(line []byte) bool {
	return len(line) <= maxLine && plain(line)
}

// plain reports whether p holds no octet over 127, no NUL and no CR, eight
// octets at a time: most bodies are long and plain.
func plain(p []byte) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for len(p) >= 8 {
		x := binary.LittleEndian.Uint64(p)
		cr := x ^ '\r'*lo
		// (v-lo) &^ v has a high bit set if and only if v has a zero octet.
		if (x|(x-lo)&^x|(cr-lo)&^cr)&hi != 0 {
			return false
		}
		p = p[8:]
	}
	for _, c := range p {
		if c >= 0x80 || c == 0 || c == '\r' {
			return false
		}
	}
	return true
}

// bodyInfo is what reading a leaf body found.
type bodyInfo struct {
	lines   int // lines begun: the body is empty when 0
	lineLen int
	// What cannot go over a 7-bit transport (RFC 2045 §2.7): an octet
	// over 127, a NUL or a lone CR; a line too long; a bare LF, which
	// matters for binary only, whose octets are kept.
	unsafe, long, bareLF bool
}

func (b *bodyInfo) add(p lineread.Piece) {
	b.lineLen += len(p.Data)
	if b.lineLen > maxLine {
		b.long = true
	}
	if p.EOL == 1 {
		b.bareLF = true
	}
	if !b.unsafe && !plain(p.Data) {
		b.unsafe = true
	}
}

func (b *bodyInfo) dirty(binary bool) bool {
	return b.unsafe || b.long || binary && b.bareLF
}

// body reads a leaf body into the spool, up to a delimiter line (whose
// CRLF in front belongs to it, RFC 2046 §5.1.1) or the end of the input.
func (w *walker) body(binary bool) (stop, bodyInfo, error) {
	var info bodyInfo
	var pend []byte // the line ending of the last line
	for {
		p, err := w.lr.Next()
		if err == io.EOF {
			return eof, info, w.spool(pend)
		}
		if err != nil {
			return stop{}, info, readError(err)
		}
		if p.Start && p.End {
			if st, ok := w.match(p.Data); ok {
				return st, info, nil
			}
		}
		// The first piece may be the rest of a header line cut at
		// headerLimit: it starts a line of the body all the same.
		if p.Start || info.lines == 0 {
			info.lines++
			info.lineLen = 0
			if err := w.spool(pend); err != nil {
				return stop{}, info, err
			}
			pend = nil
		}
		info.add(p)
		if w.scan && info.dirty(binary) {
			return stop{}, info, errNeed
		}
		if err := w.spool(p.Data); err != nil {
			return stop{}, info, err
		}
		if p.End {
			pend = p.Ending()
		}
	}
}

func (w *walker) spool(p []byte) error {
	if w.sp == nil || len(p) == 0 {
		return nil
	}
	return w.sp.write(p)
}

// leaf converts a leaf entity whose header section is held.
func (w *walker) leaf(mt, cte string, top bool) (stop, error) {
	binary := cte == "binary"
	st, info, err := w.body(binary)
	if err != nil || w.scan {
		return st, err
	}
	blank := w.h.end == endBlank
	if !info.dirty(binary) {
		relabel := ""
		if binary {
			relabel = "7bit" // RFC 3030 §3: binary needs BINARYMIME
		}
		w.startBody(relabel, false, blank)
		err = w.replay(func(p lineread.Piece) {
			w.o.write(p.Data)
			if p.EOL > 0 {
				w.o.write(crlf)
			}
		})
		return st, w.endBody(st, info, err)
	}
	w.stats.Converted++
	mimeVersion := top && !w.h.has("mime-version")
	var each func(lineread.Piece)
	var enc io.WriteCloser
	switch {
	case cte == "quoted-printable":
		w.startBody("", false, true)
		each = qpEach(&qpWriter{o: w.o, repair: true, bounds: w.bounds})
	case cte == "base64":
		w.startBody("", false, true)
		ww := &wrapWriter{o: w.o}
		each = func(p lineread.Piece) { ww.writeAlphabet(p.Data) }
	case strings.HasPrefix(mt, "text/") && (cte == "" || cte == "7bit" || cte == "8bit" || binary):
		w.startBody("quoted-printable", mimeVersion, true)
		each = qpEach(&qpWriter{o: w.o, bounds: w.bounds})
	default:
		w.startBody("base64", mimeVersion, true)
		enc = base64.NewEncoder(base64.StdEncoding, &wrapWriter{o: w.o})
		each = func(p lineread.Piece) {
			enc.Write(p.Data)
			switch {
			case binary:
				enc.Write(p.Ending())
			case p.EOL > 0:
				enc.Write(crlf)
			}
		}
	}
	err = w.replay(each)
	if enc != nil {
		enc.Close()
	}
	return st, w.endBody(st, info, err)
}

// qpEach returns the replay function that writes a body through q.
func qpEach(q *qpWriter) func(lineread.Piece) {
	return func(p lineread.Piece) {
		q.write(p.Data)
		if p.End {
			q.endLine(p.EOL > 0)
		}
	}
}

// replay calls each for every piece of the spooled body, then empties
// the spool.
func (w *walker) replay(each func(lineread.Piece)) error {
	defer w.sp.reset()
	r, err := w.sp.reader()
	if err != nil {
		return err
	}
	if w.rr == nil {
		w.rr = lineread.NewReader(r, w.lr.Size())
	} else {
		w.rr.Reset(r)
	}
	for w.o.err == nil {
		p, err := w.rr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sevenbit: rereading a spooled body part: %w", err)
		}
		each(p)
	}
	return w.o.err
}

// endBody ends the last line of a body written: before a delimiter line
// the CRLF that belongs to the delimiter, if the body had a line at all;
// at the end of the input, the CRLF a last line may lack.
func (w *walker) endBody(st stop, info bodyInfo, err error) error {
	if err != nil {
		return err
	}
	if st.level >= 0 && info.lines > 0 || st.level < 0 && !w.o.bol {
		w.o.write(crlf)
	}
	return w.o.err
}
