package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/queue"
)

const queueUsage = "usage: facteur queue list, queue show ID, queue flush [ID], queue delete|hold|release|requeue ID|ALL"

func runQueue(env *cmdEnv, args []string) error {
	flags, pos, err := parseArgs(args, flagSpec{})
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr(queueUsage)
	}
	cfg, err := loadConfig(env, flags)
	if err != nil {
		return err
	}
	if op, ok := findQueueOp(pos[0]); ok {
		return runQueueControl(env, cfg, op, pos[1:])
	}
	q, err := openQueueReader(cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	ctx := context.Background()
	switch {
	case pos[0] == "list" && len(pos) == 1:
		return printQueue(ctx, env.stdout, q)
	case pos[0] == "show" && len(pos) == 2:
		e, err := q.Get(ctx, pos[1])
		if err != nil {
			return err
		}
		printEnvelope(env.stdout, e)
		fmt.Fprintln(env.stdout)
		r, err := q.OpenContent(e.ID)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(env.stdout, r)
		return err
	}
	return usageErr(queueUsage)
}

// printQueue writes the queue in mailq's layout as it reads it: a line
// with queue ID ("!" after it for a message on hold), size, arrival time
// and sender, then each recipient with its state and, when it has one,
// its last reason.
func printQueue(ctx context.Context, out io.Writer, q *queue.Queue) error {
	w := bufio.NewWriter(out)
	defer w.Flush()
	var total int64
	var nmsg, nrcpt int
	err := q.Each(ctx, func(e *envelope.Envelope) error {
		if nmsg == 0 {
			fmt.Fprintf(w, "%-18s %8s %-20s %s\n", "-Queue ID-", "--Size--", "----Arrival Time----", "-Sender/Recipient-------")
		}
		sender, id := e.Sender, e.ID
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		if e.Held {
			id += "!"
		}
		fmt.Fprintf(w, "%-18s %8d %-20s %s\n", id, e.Size, e.Arrival.Local().Format("Mon Jan _2 15:04:05"), sender)
		for _, r := range e.Recipients {
			if r.LastReply != "" && !r.State.Final() {
				fmt.Fprintf(w, "%49s(%s)\n", "", r.LastReply)
			}
			fmt.Fprintf(w, "%49s%s [%s]\n", "", r.Addr, r.State)
			nrcpt++
		}
		fmt.Fprintln(w)
		total += e.Size
		nmsg++
		if nmsg%100 == 0 {
			return w.Flush() // the first lines show at once on a long queue
		}
		return nil
	})
	if err != nil {
		return err
	}
	if nmsg == 0 {
		fmt.Fprintln(w, "Mail queue is empty")
		return nil
	}
	fmt.Fprintf(w, "-- %d Kbytes in %d Requests, %d Recipients.\n", (total+1023)/1024, nmsg, nrcpt)
	return nil
}

// printEnvelope writes everything the queue keeps about one message, the
// RFC 3461 parameters included.
func printEnvelope(w io.Writer, e *envelope.Envelope) {
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%-13s %s\n", name+":", value)
		}
	}
	field("Queue-ID", e.ID)
	field("Arrival", e.Arrival.Local().Format(time.RFC1123Z))
	field("Size", fmt.Sprint(e.Size))
	field("Sender", "<"+e.Sender+">")
	field("Envelope-ID", e.EnvID)
	field("Ret", string(e.Ret))
	field("Body", e.Body)
	if e.SMTPUTF8 {
		field("SMTPUTF8", "yes")
	}
	c := e.Client
	if c.Addr.IsValid() {
		field("Client", fmt.Sprintf("%s (%s [%s])", c.Helo, orUnknown(c.Name), c.Addr))
	}
	field("Protocol", c.Protocol)
	for _, r := range e.Recipients {
		fmt.Fprintf(w, "Recipient:    <%s> %s", r.Addr, r.State)
		if r.Transport != "" {
			fmt.Fprintf(w, " via %s:%s", r.Transport, r.Dest)
		}
		if n := r.Notify.String(); n != "" {
			fmt.Fprintf(w, " NOTIFY=%s", n)
		}
		if o := r.ORCPT.String(); o != "" {
			fmt.Fprintf(w, " ORCPT=%s", o)
		}
		if r.Attempts > 0 {
			fmt.Fprintf(w, " attempts=%d", r.Attempts)
		}
		if r.State == envelope.Deferred && !r.NextTry.IsZero() {
			fmt.Fprintf(w, " next=%s", r.NextTry.Local().Format(time.DateTime))
		}
		fmt.Fprintln(w)
		if r.LastReply != "" {
			fmt.Fprintf(w, "              (%s)\n", r.LastReply)
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
