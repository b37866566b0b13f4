package inspect

import "fmt"

// problems gathers the problems of one analysis: one entry per kind and
// place, counting repeats, at most maxProblems entries.
type problems struct {
	index   map[string]int
	list_   []Problem
	dropped int
}

func newProblems() *problems { return &problems{index: map[string]int{}} }

// add notes one occurrence of a problem of kind at where; line is the
// line number when known, 0 otherwise.
func (ps *problems) add(kind, where string, line int, rule, text string) {
	ps.addN(kind, where, line, rule, text, 1)
}

// addN notes n occurrences at once.
func (ps *problems) addN(kind, where string, line int, rule, text string, n int) {
	key := kind + "\x00" + where
	if i, ok := ps.index[key]; ok {
		ps.list_[i].Count += n
		return
	}
	if len(ps.list_) >= maxProblems {
		ps.dropped += n
		return
	}
	ps.index[key] = len(ps.list_)
	ps.list_ = append(ps.list_, Problem{Where: where, Line: line, Rule: rule, Text: text, Count: n})
}

// list returns the problems in the order they were found.
func (ps *problems) list() []Problem {
	out := append([]Problem{}, ps.list_...)
	if ps.dropped > 0 {
		out = append(out, Problem{Where: "message", Rule: "bound of this analysis",
			Text: fmt.Sprintf("%d more problems not listed", ps.dropped), Count: ps.dropped})
	}
	return out
}
