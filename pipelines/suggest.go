package pipelines

import (
	"sort"
	"strings"
)

// closest returns up to three candidates that look like what the user meant: those within a
// small edit distance, then those that contain the word (e.g. "passthrough" finds
// "ebrcs_passthrough").
func closest(word string, candidates []string) []string {
	type scored struct {
		name string
		d    int
	}
	w := strings.ToLower(word)
	limit := max(2, len(w)/3)
	var found []scored
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == w {
			continue
		}
		if d := editDistance(w, lc); d <= limit {
			found = append(found, scored{c, d})
		} else if len(w) >= 4 && strings.Contains(lc, w) {
			found = append(found, scored{c, limit + len(lc) - len(w)})
		}
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].d != found[j].d {
			return found[i].d < found[j].d
		}
		return found[i].name < found[j].name
	})
	var out []string
	for i := 0; i < len(found) && i < 3; i++ {
		out = append(out, found[i].name)
	}
	return out
}

// didYouMean formats closest's answer for an error message ("" when nothing is close).
func didYouMean(word string, candidates []string) string {
	c := closest(word, candidates)
	if len(c) == 0 {
		return ""
	}
	return "; did you mean " + strings.Join(quoteAll(c), " or ") + "?"
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = `"` + v + `"`
	}
	return q
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
