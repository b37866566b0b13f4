package sevenbit

import "bufio"

var (
	crlf = []byte("\r\n")
	lf   = []byte("\n")
)

// output is the converted message on its way out. The first write error
// is kept and later writes are dropped.
type output struct {
	bw  *bufio.Writer // nil when the output is discarded (Needs)
	bol bool          // the last octet written was LF, or none was
	err error
}

func (o *output) write(p []byte) {
	if len(p) == 0 || o.err != nil {
		return
	}
	o.bol = p[len(p)-1] == '\n'
	if o.bw != nil {
		_, o.err = o.bw.Write(p)
	}
}

func (o *output) writeString(s string) {
	if len(s) == 0 || o.err != nil {
		return
	}
	o.bol = s[len(s)-1] == '\n'
	if o.bw != nil {
		_, o.err = o.bw.WriteString(s)
	}
}

// line writes p and a CRLF.
func (o *output) line(p []byte) {
	o.write(p)
	o.write(crlf)
}
