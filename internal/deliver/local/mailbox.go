package local

import (
	"context"
	"errors"
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
//
// Policy checked every account at RCPT time, so the delivery is tried at
// once, with no lookup per recipient. Only when the store reports a
// missing account or mailbox are the accounts looked up: the missing ones
// bounce and the others are delivered, so that one vanished account never
// keeps the shared delivery deferred.
func (d *Deliverer) mailboxes(ctx context.Context, msg message, rcpts []*envelope.Recipient, idx []int, results []queue.Result) {
	var todo []int
	first := map[[2]string]int{} // (account, Delivered-To) → first index
	for _, i := range idx {
		key := [2]string{rcpts[i].Dest, deliveredTo(rcpts[i])}
		if _, dup := first[key]; !dup {
			first[key] = i
			todo = append(todo, i)
		}
	}
	err := d.writeStore(ctx, msg, rcpts, todo)
	if errors.Is(err, store.ErrNotFound) {
		d.debug.Info("delivery found a missing account; looking the accounts up", "id", msg.env.ID, "err", err)
		todo = d.checkAccounts(ctx, msg, rcpts, todo, results)
		err = nil
		if len(todo) > 0 {
			err = d.writeStore(ctx, msg, rcpts, todo)
		}
	}
	res := d.storeResult(ctx, msg, err)
	for _, i := range todo {
		results[i] = res
	}
	// The same account and Delivered-To twice (two aliases reaching one
	// user) is one message in the mailbox, as Postfix's duplicate filter.
	for _, i := range idx {
		r := rcpts[i]
		if j := first[[2]string{r.Dest, deliveredTo(r)}]; j != i {
			results[i] = results[j]
		}
	}
}

// checkAccounts looks up the account of each of rcpts[todo], fills the
// results of those that cannot be delivered (5.1.1 for a missing account,
// a deferral when the lookup fails) and returns the others.
func (d *Deliverer) checkAccounts(ctx context.Context, msg message, rcpts []*envelope.Recipient, todo []int, results []queue.Result) []int {
	var left []int
	for _, i := range todo {
		r := rcpts[i]
		ok, err := d.st.UserExists(ctx, r.Dest)
		switch {
		case err != nil:
			d.fault(msg.env.ID, "looking up account %q: %v", r.Dest, err)
			results[i] = deferred(tempMailbox)
		case !ok:
			results[i] = bounced("5.1.1", fmt.Sprintf("unknown user: %q", r.Dest))
		default:
			left = append(left, i)
		}
	}
	return left
}

// storeResult is the result of a store delivery that ended with err.
func (d *Deliverer) storeResult(ctx context.Context, msg message, err error) queue.Result {
	if err != nil {
		// A mailbox missing from an existing account, an account that
		// vanished since the lookup, or any store fault defers: the next
		// attempt bounces an account that is gone by then.
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
		dl.AddKeyed(rcpts[i].Dest, "", deliveryKey(msg.env, rcpts[i]), prefix(msg.env, rcpts[i], "\r\n"))
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

// deliveryKey names the delivery of a queued message to one recipient, so
// that the store skips a repeat as done: the queue settles a recipient only
// after the store commit returned, and a crash in between hands the
// message over again. Queue IDs are never reused (queue/id.go); a message
// without one gets no key.
func deliveryKey(env *envelope.Envelope, r *envelope.Recipient) string {
	if env.ID == "" {
		return ""
	}
	return env.ID + " " + deliveredTo(r)
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
