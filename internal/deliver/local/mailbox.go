package local

import (
	"context"
	"fmt"
	"io"

	"facteur/internal/envelope"
	"facteur/internal/queue"
	"facteur/internal/store"
)

// tempMailbox is the text of every deferral caused by the store: what went
// wrong is for the debug log, not for the sender.
const tempMailbox = "temporary failure delivering to mailbox"

// mailboxes delivers to the recipients rcpts[idx] that name accounts, in
// one store delivery sharing one content, and fills their results.
func (d *Deliverer) mailboxes(ctx context.Context, msg message, rcpts []*envelope.Recipient, idx []int, results []queue.Result) {
	var todo []int
	first := map[[2]string]int{} // (account, Delivered-To) → first index
	for _, i := range idx {
		r := rcpts[i]
		ok, err := d.st.UserExists(ctx, r.Dest)
		switch {
		case err != nil:
			d.fault(msg.env.ID, "looking up account %q: %v", r.Dest, err)
			results[i] = deferred(tempMailbox)
		case !ok:
			results[i] = bounced("5.1.1", fmt.Sprintf("unknown user: %q", r.Dest))
		default:
			key := [2]string{r.Dest, deliveredTo(r)}
			if _, dup := first[key]; !dup {
				first[key] = i
				todo = append(todo, i)
			}
		}
	}
	if len(todo) > 0 {
		res := d.storeDelivery(ctx, msg, rcpts, todo)
		for _, i := range todo {
			results[i] = res
		}
	}
	// The same account and Delivered-To twice (two aliases reaching one
	// user) is one message in the mailbox, as Postfix's duplicate filter.
	for _, i := range idx {
		r := rcpts[i]
		if j, ok := first[[2]string{r.Dest, deliveredTo(r)}]; ok && j != i && results[i].Status == 0 {
			results[i] = results[j]
		}
	}
}

// storeDelivery writes msg once for all of rcpts[todo].
func (d *Deliverer) storeDelivery(ctx context.Context, msg message, rcpts []*envelope.Recipient, todo []int) queue.Result {
	err := d.writeStore(ctx, msg, rcpts, todo)
	if err != nil {
		// A vanished account or any store fault defers: the next attempt
		// looks the account up again and bounces it if it is gone.
		d.fault(msg.env.ID, "delivering to mailbox: %v", err)
		if ctx.Err() != nil {
			return deferred("delivery interrupted")
		}
		return deferred(tempMailbox)
	}
	return delivered("delivered to mailbox")
}

func (d *Deliverer) writeStore(ctx context.Context, msg message, rcpts []*envelope.Recipient, todo []int) error {
	dl, err := d.st.BeginDelivery(ctx)
	if err != nil {
		return fmt.Errorf("beginning delivery: %w", err)
	}
	for _, i := range todo {
		dl.Add(rcpts[i].Dest, "", prefix(msg.env, rcpts[i], "\r\n"))
	}
	if err := fillContent(ctx, dl, msg); err != nil {
		dl.Abort()
		return err
	}
	if err := dl.Commit(ctx); err != nil {
		return fmt.Errorf("committing delivery: %w", err)
	}
	return nil
}

// pather is content kept in a file that is never modified, as a committed
// queue file is (queue.Message.Path).
type pather interface {
	Path() string
}

// fillContent gives the store delivery its shared content: a link to the
// queue file when there is one, since that file is fsync'd and immutable
// (the store falls back to a copy itself), or else a copy of it.
func fillContent(ctx context.Context, dl *store.Delivery, msg message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p, ok := msg.content.(pather); ok && p.Path() != "" {
		if err := dl.LinkFrom(p.Path()); err != nil {
			return fmt.Errorf("taking message content: %w", err)
		}
		return nil
	}
	src, err := msg.Open()
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := io.Copy(dl, ctxReader{ctx, src}); err != nil {
		return fmt.Errorf("copying message: %w", err)
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
