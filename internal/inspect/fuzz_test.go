package inspect

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzAnalyze runs the whole analysis, extraction and both outputs
// included, over any input: it must read it all and never fail.
func FuzzAnalyze(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: message/rfc822\n\n--a--\n"))
	f.Add([]byte("Content-Type: message/rfc822\n\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nFrom: x\n--d--\n"))
	f.Add([]byte("Content-Type: text/plain; charset*=x''y; name*0*=utf-8''%ZZ; name*1=q\nContent-Transfer-Encoding: quoted-printable\n\n=\n=4\n= \nx"))
	f.Add([]byte("Received: from [IPv6:::1] ((nested) [1.2.3.4]) by; \nReceived: (((;\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Analyze(bytes.NewReader(data), Options{Extract: discardExtractor{}})
		if err != nil {
			t.Fatalf("Analyze: %v", err)
		}
		if r.Size != int64(len(data)) {
			t.Fatalf("read %d octets of %d", r.Size, len(data))
		}
		if r.Message == nil || r.Message.Body == nil {
			t.Fatal("no message body in the report")
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if err := r.WriteText(io.Discard, TextOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}
