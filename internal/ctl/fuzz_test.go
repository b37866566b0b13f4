package ctl

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"op":"queue.flush"}` + "\n",
		`{"v":1,"op":"queue.delete","args":["ALL"]}`,
		`{"v":1,"op":"submit","args":["-f","a@b"],"input":true}`,
		`{"v":2,"op":"x"}`,
		`{"v":1,"op":""}`,
		`{"v":1,"op":"x","args":[null,"\u0000"]}`,
		"hello",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := parseRequest(line)
		if err != nil {
			return
		}
		if req.V != Version || req.Op == "" {
			t.Errorf("parseRequest(%q) = %+v without an error", line, req)
		}
	})
}

func FuzzPayload(f *testing.F) {
	for _, s := range []string{
		"\x00\x00\x00\x00",
		"\x00\x00\x00\x03abc\x00\x00\x00\x00",
		"\x00\x00\x00\x03abc\x00\x00\x00\x01d\x00\x00\x00\x00trailing",
		"\x00\x00\x00\x05ab",
		"\xff\xff\xff\xff",
		"\x00\x01",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &payloadReader{r: bufio.NewReader(bytes.NewReader(data)), wait: func() {}}
		got, err := io.ReadAll(p)
		if len(got) > len(data) {
			t.Fatalf("read %d bytes out of %d", len(got), len(data))
		}
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "chunk of") {
				t.Errorf("unexpected error %v", err)
			}
			return
		}
		// What was read goes through writePayload and back unchanged.
		var enc bytes.Buffer
		if err := writePayload(&enc, bytes.NewReader(got)); err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(&payloadReader{r: bufio.NewReader(&enc), wait: func() {}})
		if err != nil || !bytes.Equal(back, got) {
			t.Errorf("round trip of %q: %q, %v", got, back, err)
		}
	})
}
