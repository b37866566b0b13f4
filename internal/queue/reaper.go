package queue

import "os"

// reapJob is the work left after a transaction: the content files of the
// messages whose rows it deleted, and the flush requests to answer once
// those are gone.
type reapJob struct {
	ids     []string
	flushes []*request
}

// reap ends the hiding of committed settlements and hands their removals
// to the reaper, off the committer's path.
func (q *Queue) reap(done []settlement, flushes []*request) {
	if len(done) == 0 && len(flushes) == 0 {
		return
	}
	q.settled(done)
	var ids []string
	for _, s := range done {
		if s.remove {
			ids = append(ids, s.id)
		}
	}
	q.reaps <- reapJob{ids: ids, flushes: flushes}
}

// reaper removes the content files of messages whose rows are deleted and
// logs their removal. Rows first, file second: a crash in between leaves
// an orphan file, which sweepOrphans removes, never a row without content.
func (q *Queue) reaper() {
	defer close(q.reaped)
	for j := range q.reaps {
		for _, id := range j.ids {
			if err := os.Remove(q.contentPath(id)); err != nil && !os.IsNotExist(err) {
				q.opt.Debug.Warn("removing queue file", "id", id, "err", err)
			}
			q.qmgr.Event(id, "removed")
		}
		for _, r := range j.flushes {
			r.done <- nil
		}
	}
}

// stopReaper lets the reaper finish its work and waits for it; only the
// committer sends it work, so only the committer stops it.
func (q *Queue) stopReaper() {
	close(q.reaps)
	<-q.reaped
}
