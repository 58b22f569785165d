package shrink

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// ErrBudget is what a Test returns when no more tests fit in the budget;
// DDMin then returns the smallest failing set found so far.
var ErrBudget = errors.New("the shrink budget is spent")

// Test says whether the subset (indices into the original set, ascending)
// still fails. An error other than ErrBudget aborts the search.
type Test func(ctx context.Context, subset []int) (bool, error)

// DDMin is Zeller's delta debugging (ddmin) over the items 0..n-1, which
// together fail: it tests subsets and their complements at a growing
// granularity and returns a failing subset from which no single item can
// be removed (1-minimal), as far as the tests go. Each subset is tested at
// most once. The whole set is taken to fail (the caller confirms it).
// With ErrBudget the result is the smallest failing set found, and done is
// false.
func DDMin(ctx context.Context, n int, test Test) (best []int, done bool, err error) {
	tested := map[string]bool{}
	try := func(s []int) (bool, error) {
		key := keyOf(s)
		if r, ok := tested[key]; ok {
			return r, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		r, err := test(ctx, s)
		if err != nil {
			return false, err
		}
		tested[key] = r
		return r, nil
	}
	c := make([]int, n)
	for i := range c {
		c[i] = i
	}
	gran := 2
	for len(c) >= 2 {
		parts := split(c, gran)
		reduced := false
		for _, p := range parts {
			fails, err := try(p)
			if err != nil {
				return c, false, stop(err)
			}
			if fails {
				c, gran, reduced = p, 2, true
				break
			}
		}
		if !reduced && gran > 2 { // with two parts each complement is the other part
			for _, p := range parts {
				comp := minus(c, p)
				fails, err := try(comp)
				if err != nil {
					return c, false, stop(err)
				}
				if fails {
					c, gran, reduced = comp, max(gran-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if gran >= len(c) {
				break
			}
			gran = min(2*gran, len(c))
		}
	}
	return c, true, nil
}

// stop turns the budget's end into a normal end.
func stop(err error) error {
	if errors.Is(err, ErrBudget) {
		return nil
	}
	return err
}

// split cuts c into n parts of nearly equal size, in order.
func split(c []int, n int) [][]int {
	var out [][]int
	start := 0
	for i := range n {
		end := start + (len(c)-start)/(n-i)
		if end > start {
			out = append(out, c[start:end])
		}
		start = end
	}
	return out
}

func minus(c, p []int) []int {
	var out []int
	for _, x := range c {
		if !slices.Contains(p, x) {
			out = append(out, x)
		}
	}
	return out
}

func keyOf(s []int) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}
