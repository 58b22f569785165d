// Package checker judges a recorded run: linearizability of what clients
// saw (checker/linearizable) and the single-leader invariants over what the
// nodes reported. Each checker gives a Result; a Report combines them.
package checker

// Verdict is a checker's judgement.
type Verdict string

// Verdicts. Unknown is never a pass: a checker that ran out of time or had
// too little to go on says unknown.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown"
)

// ExitCode maps a verdict onto the exit codes every splitbrain command
// uses: 0 valid, 1 invalid, 2 unknown. (3 is "could not run".)
func (v Verdict) ExitCode() int {
	switch v {
	case Valid:
		return 0
	case Invalid:
		return 1
	default:
		return 2
	}
}

// Result is one checker's judgement.
type Result struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	// Summary is one line for a terminal or a JUnit failure message.
	Summary string `json:"summary"`
	// Details is the checker's evidence, shaped by each checker.
	Details any `json:"details,omitempty"`
}

// Combine gives the overall verdict: invalid when any result is invalid,
// valid when all are valid, unknown otherwise (and for no results).
func Combine(results []Result) Verdict {
	if len(results) == 0 {
		return Unknown
	}
	v := Valid
	for _, r := range results {
		switch r.Verdict {
		case Invalid:
			return Invalid
		case Valid:
		default:
			v = Unknown
		}
	}
	return v
}
