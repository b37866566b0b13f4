package smtp

import (
	"context"
	"slices"

	"facteur/internal/queue"
)

// deliverGroup delivers msg to the recipients of one next hop: over a
// cached connection if there is one, else to the next hop's addresses in
// turn, and sets their results.
func (c *Client) deliverGroup(ctx context.Context, msg message, g *group, results []queue.Result) {
	set := func(rs []rcpt, res queue.Result) {
		for _, r := range rs {
			results[r.i] = res
		}
	}
	d, res := c.acquire(ctx, g.hop.key())
	if res != nil {
		set(g.rcpts, *res)
		return
	}
	defer c.release(d)
	todo := g.rcpts
	// Cached connections first; one that went stale, or failed in the
	// middle, leaves its recipients to the next.
	for len(todo) > 0 && ctx.Err() == nil {
		s := c.takeIdle(d)
		if s == nil {
			break
		}
		todo, _, _ = c.run(ctx, d, s, msg, todo, results, true)
	}
	switch {
	case len(todo) == 0:
	case ctx.Err() != nil:
		set(todo, interrupted)
	default:
		c.tryAddresses(ctx, d, msg, g.hop, todo, results)
	}
}

// tryAddresses resolves hop and delivers todo to its addresses in turn,
// until every recipient has a result or maxSessions sessions were had. A
// next hop none of whose addresses could be talked to is cooled down.
func (c *Client) tryAddresses(ctx context.Context, d *destination, msg message, hop nexthop, todo []rcpt, results []queue.Result) {
	targets, res := c.resolve(ctx, hop)
	if res != nil {
		for _, r := range todo {
			results[r.i] = *res
		}
		return
	}
	var last queue.Result
	sessions := 0
	for _, t := range targets {
		if ctx.Err() != nil {
			last = interrupted
			break
		}
		s, f := c.open(ctx, t, c.opt.TLSLevel)
		if f != nil && f.fallback {
			// Postfix's "may": a handshake that fails is tried again in
			// plaintext.
			c.debug.Info("TLS failed, trying again in plaintext", "relay", t.relay())
			s, f = c.open(ctx, t, TLSNone)
		}
		if f != nil {
			last = f.res
			continue
		}
		sessions++
		c.markAlive(d)
		todo, last, _ = c.run(ctx, d, s, msg, todo, results, false)
		if len(todo) == 0 || sessions == maxSessions {
			break
		}
	}
	for _, r := range todo {
		results[r.i] = last
	}
	if sessions == 0 && len(todo) > 0 && last.Status == queue.Deferred && ctx.Err() == nil {
		c.markDead(d, last)
	}
}

// run delivers todo over s, in as many transactions as the next hop's
// recipient limits ask, then caches s or closes it. It returns the
// recipients left to another connection, with the reason; stale says
// that s was a cached connection found dead before anything was done.
func (c *Client) run(ctx context.Context, d *destination, s *session, msg message, todo []rcpt, results []queue.Result, cached bool) (rest []rcpt, fail queue.Result, stale bool) {
	stop := context.AfterFunc(ctx, func() { s.raw.Close() })
	first := cached
	pending := todo
	for len(pending) > 0 && !s.broken {
		batch := pending[:min(len(pending), maxTxnRcpts)]
		pending = pending[len(batch):]
		out := s.transaction(ctx, msg, batch, results, first)
		first = false
		switch {
		case out.stale:
			stop()
			return todo, queue.Result{}, true
		case out.retry != nil:
			rest, fail = slices.Concat(out.retry, out.carry, pending), out.fail
			pending = nil
		default:
			pending = slices.Concat(out.carry, pending)
		}
	}
	if !stop() {
		s.broken = true
	}
	if len(pending) > 0 {
		// The session broke with nothing said about these.
		rest = slices.Concat(rest, pending)
		fail = queue.Result{Status: queue.Deferred, DSN: "4.4.2", Relay: s.relay(),
			Text: "lost connection with " + s.t.name()}
	}
	if s.broken {
		s.close()
	} else {
		c.putIdle(d, s)
	}
	return rest, fail, false
}
