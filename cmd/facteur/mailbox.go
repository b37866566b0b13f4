package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

const mailboxUsage = "usage: facteur mailbox list NAME [MAILBOX], mailbox cat NAME UID [MAILBOX], mailbox count NAME [MAILBOX], " +
	"mailbox import NAME PATH [--mailbox MAILBOX] (a Maildir, or an mbox file into MAILBOX, INBOX by default), " +
	"mailbox export NAME DIR (every mailbox as a Maildir++ tree in a new or empty DIR)"

func runMailbox(env *cmdEnv, args []string) error {
	flags, pos, err := parseArgs(args, flagSpec{"mailbox": true})
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageErr(mailboxUsage)
	}
	verb, account := pos[0], pos[1]
	rest := pos[2:]
	if _, ok := flags["mailbox"]; ok && verb != "import" {
		return usageErr("--mailbox is for mailbox import")
	}
	if (verb == "import" || verb == "export") && len(rest) != 1 {
		return usageErr(mailboxUsage)
	}
	st, err := loadStore(env, flags)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	port := &mailPort{st: st, account: account, stdout: env.stdout, stderr: env.stderr}
	mailbox := func(i int) string {
		if len(rest) > i {
			return rest[i]
		}
		return "INBOX"
	}
	switch verb {
	case "import":
		return port.importPath(ctx, rest[0], flags["mailbox"])
	case "export":
		return port.export(ctx, rest[0])
	case "count":
		if len(rest) > 1 {
			return usageErr(mailboxUsage)
		}
		n, err := st.Count(ctx, account, mailbox(0))
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, n)
		return nil
	case "list":
		if len(rest) > 1 {
			return usageErr(mailboxUsage)
		}
		msgs, err := st.Messages(ctx, account, mailbox(0))
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "UID\tDATE\tSIZE\tFROM\tSUBJECT")
		for _, m := range msgs {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", m.UID, m.InternalDate.Format("2006-01-02 15:04:05"), m.Size, oneLine(m.From), oneLine(m.Subject))
		}
		return tw.Flush()
	case "cat":
		if len(rest) < 1 || len(rest) > 2 {
			return usageErr(mailboxUsage)
		}
		uid, err := strconv.ParseUint(rest[0], 10, 32)
		if err != nil {
			return usageErr("bad UID %q", rest[0])
		}
		r, err := st.OpenMessage(ctx, account, mailbox(1), uint32(uid))
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(env.stdout, r)
		return err
	}
	return usageErr(mailboxUsage)
}

// oneLine keeps a header value on one line of a listing, and short. The
// value comes from a remote sender: control characters (a terminal escape
// sequence, say) are shown as '?'.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}
