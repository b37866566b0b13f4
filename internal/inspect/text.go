package inspect

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode"
)

// TextOptions choose what WriteText shows.
type TextOptions struct {
	Raw bool // header values as written, RFC 2047 encoded words not decoded
}

// WriteText writes the report for a person to read, in sections:
// Envelope, Trace, Header, MIME structure, Problems. Text that comes from
// the message is shown with its control characters as "?", so that a
// message cannot drive the terminal.
func (r *Report) WriteText(out io.Writer, opt TextOptions) error {
	w := bufio.NewWriter(out)
	r.writeEnvelope(w)
	fmt.Fprintln(w)
	writeTrace(w, r.Message.Trace, "")
	fmt.Fprintln(w)
	writeHeader(w, r.Message.Header, opt, "")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "MIME structure")
	writePart(w, r.Message.Body, "  ", opt)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Problems")
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "  none found")
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  - %s\n", clean(p.String()))
	}
	return w.Flush()
}

func (r *Report) writeEnvelope(w *bufio.Writer) {
	env := r.Envelope
	switch {
	case env == nil:
		fmt.Fprintln(w, "Envelope (not known)")
	case env.Source == "queue":
		fmt.Fprintf(w, "Envelope (queue %s)\n", clean(env.QueueID))
	default:
		fmt.Fprintln(w, "Envelope (as final delivery recorded it: Return-Path, Delivered-To)")
	}
	if env != nil {
		if env.HasFrom {
			fmt.Fprintf(w, "  MAIL FROM:<%s>", clean(env.MailFrom))
			for _, kv := range [][2]string{{"RET", env.Ret}, {"ENVID", env.EnvID}, {"BODY", env.Body}} {
				if kv[1] != "" {
					fmt.Fprintf(w, " %s=%s", kv[0], clean(kv[1]))
				}
			}
			if env.SMTPUTF8 {
				fmt.Fprint(w, " SMTPUTF8")
			}
			fmt.Fprintln(w)
		}
		for _, rc := range env.Recipients {
			fmt.Fprintf(w, "  RCPT TO:<%s>", clean(rc.Addr))
			if rc.Notify != "" {
				fmt.Fprintf(w, " NOTIFY=%s", rc.Notify)
			}
			if rc.ORCPT != "" {
				fmt.Fprintf(w, " ORCPT=%s", clean(rc.ORCPT))
			}
			if rc.State != "" {
				fmt.Fprintf(w, " [%s]", rc.State)
			}
			fmt.Fprintln(w)
		}
	}
	a := r.Message.Addresses
	fmt.Fprintln(w, "  Header addresses:")
	any := false
	for _, f := range []struct {
		name string
		list []Address
	}{{"From", a.From}, {"Sender", a.Sender}, {"Reply-To", a.ReplyTo}, {"To", a.To}, {"Cc", a.Cc}, {"Bcc", a.Bcc}} {
		if len(f.list) > 0 {
			fmt.Fprintf(w, "    %-9s %s\n", f.name+":", clean(addrList(f.list)))
			any = true
		}
	}
	if !any {
		fmt.Fprintln(w, "    none")
	}
	for _, s := range r.Compare {
		fmt.Fprintf(w, "  - %s\n", clean(s))
	}
}

func writeTrace(w *bufio.Writer, tr Trace, indent string) {
	fmt.Fprintln(w, indent+"Trace (oldest hop first)")
	if tr.ReturnPath != "" {
		fmt.Fprintf(w, "%s  Return-Path: %s\n", indent, clean(tr.ReturnPath))
	}
	if len(tr.Hops) == 0 {
		fmt.Fprintln(w, indent+"  no Received fields")
	}
	pad := indent + "         "
	for i, h := range tr.Hops {
		fmt.Fprintf(w, "%s  hop %-3d", indent, i+1)
		first := true
		line := func(s string) {
			if first {
				fmt.Fprintln(w, clean(s))
				first = false
			} else {
				fmt.Fprintln(w, pad+clean(s))
			}
		}
		if h.From != "" || h.FromName != "" || h.FromAddr != "" {
			s := "from " + orDash(h.From)
			if h.FromName != "" || h.FromAddr != "" {
				s += " (" + strings.TrimSpace(h.FromName+" ["+h.FromAddr+"]") + ")"
			}
			line(s)
		}
		s := "by " + orDash(h.By)
		if h.Via != "" {
			s += " via " + h.Via
		}
		if h.With != "" {
			s += " with " + h.With
			if info := ProtocolInfo(h.With); info != "" {
				s += " [" + info + "]"
			}
		}
		line(s)
		if h.TLS != "" || h.Cipher != "" {
			line("TLS " + strings.TrimSpace(h.TLS+" "+h.Cipher))
		}
		if h.ID != "" || h.For != "" {
			s = ""
			if h.ID != "" {
				s = "id " + h.ID + " "
			}
			if h.For != "" {
				s += "for <" + h.For + ">"
			}
			line(strings.TrimSpace(s))
		}
		switch {
		case h.Date.IsZero():
			line("date unknown")
		case h.Delay != nil && h.Skew:
			line(h.Date.Format(time.RFC1123Z) + "  (" + h.Delay.String() + " after hop " + fmt.Sprint(i) + ": CLOCK SKEW)")
		case h.Delay != nil:
			line(h.Date.Format(time.RFC1123Z) + "  (+" + h.Delay.String() + " after hop " + fmt.Sprint(i) + ")")
		default:
			line(h.Date.Format(time.RFC1123Z))
		}
	}
	if tr.Total != nil {
		fmt.Fprintf(w, "%s  transit %s from hop 1 to hop %d\n", indent, tr.Total, len(tr.Hops))
	}
}

func writeHeader(w *bufio.Writer, fields []Field, opt TextOptions, indent string) {
	what := "decoded"
	if opt.Raw {
		what = "raw"
	}
	fmt.Fprintf(w, "%sHeader (unfolded, %s)\n", indent, what)
	byGroup := map[string][]Field{}
	for _, f := range fields {
		byGroup[f.Group] = append(byGroup[f.Group], f)
	}
	for _, g := range Groups {
		if len(byGroup[g]) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s  %s\n", indent, g)
		for _, f := range byGroup[g] {
			v := f.Value
			if opt.Raw {
				v = f.Raw
			}
			fmt.Fprintf(w, "%s    %s: %s\n", indent, clean(f.Name), clean(v))
		}
	}
}

func writePart(w *bufio.Writer, p *Part, indent string, opt TextOptions) {
	s := p.ID + "  " + p.Type
	keys := make([]string, 0, len(p.Params))
	for k := range p.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += fmt.Sprintf("; %s=%q", k, p.Params[k])
	}
	if _, ok := p.Params["charset"]; !ok && p.Charset != "" {
		s += "  (charset " + p.Charset + " by default)"
	}
	s += "  " + p.Encoding
	if p.Disposition != "" {
		s += "  " + p.Disposition
	}
	if p.Filename != "" {
		s += fmt.Sprintf("  file %q", p.Filename)
	}
	if p.Parts == nil && p.Message == nil {
		s += fmt.Sprintf("  %d bytes decoded (%d as written)", p.Size, p.RawSize)
	} else {
		s += fmt.Sprintf("  %d bytes", p.RawSize)
	}
	if p.Saved != "" {
		s += fmt.Sprintf("  saved as %q", p.Saved)
	}
	fmt.Fprintln(w, indent+clean(s))
	if p.Description != "" {
		fmt.Fprintf(w, "%s    description: %s\n", indent, clean(p.Description))
	}
	for _, l := range p.Preview {
		fmt.Fprintf(w, "%s    | %s\n", indent, clean(l))
	}
	if ds := p.Status; ds != nil {
		if ds.ReportingMTA != "" {
			fmt.Fprintf(w, "%s    Reporting-MTA: %s\n", indent, clean(ds.ReportingMTA))
		}
		for _, rs := range ds.Recipients {
			s := fmt.Sprintf("%s: %s %s", rs.FinalRecipient, rs.Action, rs.Status)
			if rs.RemoteMTA != "" {
				s += " from " + rs.RemoteMTA
			}
			if rs.DiagnosticCode != "" {
				s += ": " + rs.DiagnosticCode
			}
			fmt.Fprintf(w, "%s    %s\n", indent, clean(s))
		}
	}
	if m := p.Message; m != nil {
		in := indent + "    "
		for _, f := range m.Header {
			switch strings.ToLower(f.Name) {
			case "from", "to", "subject", "date":
				v := f.Value
				if opt.Raw {
					v = f.Raw
				}
				fmt.Fprintf(w, "%s%s: %s\n", in, clean(f.Name), clean(v))
			}
		}
		if len(m.Trace.Hops) > 0 {
			writeTrace(w, m.Trace, in)
		}
		writePart(w, m.Body, in, opt)
	}
	for _, c := range p.Parts {
		writePart(w, c, indent+"  ", opt)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clean shows control characters as "?" (a tab as a space).
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return '?'
		}
		return r
	}, s)
}
