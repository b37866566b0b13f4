package smtp

import (
	"context"
	"slices"
	"time"

	"facteur/internal/queue"
)

// destination is the state kept per next hop: the sessions under way and
// the callers waiting for one, whether it is dead (cooled down, as
// Postfix's qmgr does after connection failures), and its idle
// connections. Every field is guarded by Client.mu.
type destination struct {
	key       string
	active    int
	waiters   []*waiter
	deadUntil time.Time
	dead      queue.Result // the result while dead
	idle      []*idleConn
}

// waiter is a caller waiting for a session slot. Its channel receives
// nil when the slot is handed over, or the result for its recipients
// when the destination dies meanwhile.
type waiter struct {
	ch chan *queue.Result
}

// idleConn is a cached connection and the timer that closes it.
type idleConn struct {
	s     *session
	timer *time.Timer
}

// sweepEvery is how often destinations left with no state are dropped.
const sweepEvery = time.Minute

// destLocked returns the state of next hop key, made on first use.
func (c *Client) destLocked(key string) *destination {
	now := c.opt.Now()
	if now.Sub(c.lastSweep) > sweepEvery {
		c.lastSweep = now
		for k, d := range c.dests {
			c.forgetLocked(k, d, now)
		}
	}
	d := c.dests[key]
	if d == nil {
		d = &destination{key: key}
		c.dests[key] = d
	}
	return d
}

// forgetLocked drops d when it holds nothing worth keeping.
func (c *Client) forgetLocked(key string, d *destination, now time.Time) {
	if d.active == 0 && len(d.waiters) == 0 && len(d.idle) == 0 && !now.Before(d.deadUntil) {
		delete(c.dests, key)
	}
}

// acquire takes a session slot of next hop key. When every slot is
// taken it waits for one, unless DestinationConcurrency callers wait
// already: then the recipients are postponed. A dead destination, now or
// while waiting, gives its deferral instead of a slot.
func (c *Client) acquire(ctx context.Context, key string) (*destination, *queue.Result) {
	c.mu.Lock()
	d := c.destLocked(key)
	if c.opt.Now().Before(d.deadUntil) {
		res := d.dead
		c.mu.Unlock()
		return nil, &res
	}
	limit := c.opt.DestinationConcurrency
	if d.active < limit {
		d.active++
		c.mu.Unlock()
		return d, nil
	}
	if len(d.waiters) >= limit {
		c.mu.Unlock()
		res := postponed
		return nil, &res
	}
	w := &waiter{ch: make(chan *queue.Result, 1)}
	d.waiters = append(d.waiters, w)
	c.mu.Unlock()
	select {
	case res := <-w.ch:
		if res != nil {
			return nil, res
		}
		return d, nil
	case <-ctx.Done():
	}
	c.mu.Lock()
	if i := slices.Index(d.waiters, w); i >= 0 {
		d.waiters = slices.Delete(d.waiters, i, i+1)
		c.mu.Unlock()
	} else {
		c.mu.Unlock()
		if res := <-w.ch; res == nil {
			c.release(d) // handed over as the context ended
		}
	}
	res := interrupted
	return nil, &res
}

// release gives a slot back, to the first waiter if there is one.
func (c *Client) release(d *destination) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(d.waiters) > 0 {
		w := d.waiters[0]
		d.waiters = slices.Delete(d.waiters, 0, 1)
		w.ch <- nil
		return
	}
	d.active--
	c.forgetLocked(d.key, d, c.opt.Now())
}

// markDead cools d down after every address failed at connection level:
// for Cooldown, its recipients are deferred at once with the last
// reason, and so are those waiting for a slot now.
func (c *Client) markDead(d *destination, last queue.Result) {
	if c.opt.Cooldown < 0 {
		return
	}
	res := deferred(last.DSN, "delivery temporarily suspended: "+last.Text)
	c.mu.Lock()
	defer c.mu.Unlock()
	d.deadUntil = c.opt.Now().Add(c.opt.Cooldown)
	d.dead = res
	for _, w := range d.waiters {
		w.ch <- &res
	}
	d.waiters = nil
	c.debug.Info("destination cooled down", "destination", d.key, "for", c.opt.Cooldown, "reason", last.Text)
}

// markAlive ends d's cool-down: a session got through.
func (c *Client) markAlive(d *destination) {
	c.mu.Lock()
	d.deadUntil = time.Time{}
	c.mu.Unlock()
}

// takeIdle returns a cached connection of d, the most recent, or nil.
func (c *Client) takeIdle(d *destination) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(d.idle) == 0 {
		return nil
	}
	ic := d.idle[len(d.idle)-1]
	d.idle = d.idle[:len(d.idle)-1]
	ic.timer.Stop()
	return ic.s
}

// putIdle keeps s for the next message to d for ConnCacheTime, then
// closes it with QUIT. With the cache off, or the client closed, it
// closes s at once.
func (c *Client) putIdle(d *destination, s *session) {
	c.mu.Lock()
	if c.closed || c.opt.ConnCacheTime < 0 {
		c.mu.Unlock()
		s.quit()
		return
	}
	ic := &idleConn{s: s}
	// The timer's function takes c.mu, held here until ic is listed.
	ic.timer = time.AfterFunc(c.opt.ConnCacheTime, func() {
		c.mu.Lock()
		i := slices.Index(d.idle, ic)
		if i >= 0 {
			d.idle = slices.Delete(d.idle, i, i+1)
			c.forgetLocked(d.key, d, c.opt.Now())
		}
		c.mu.Unlock()
		if i >= 0 {
			s.quit()
		}
	})
	d.idle = append(d.idle, ic)
	c.mu.Unlock()
}

// ForgetFailures ends the cool-down of every dead destination, so that the
// next delivery tries it (an operator's flush asks for it).
func (c *Client) ForgetFailures() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.dests {
		d.deadUntil = time.Time{}
	}
}
