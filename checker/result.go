// Package checker judges a recorded run: linearizability of what clients
// saw (checker/linearizable) and the single-leader invariants over the
// run's timeline (package timeline). Each checker gives a Result; a Report
// combines them.
package checker

import (
	"encoding/json"
	"fmt"

	"github.com/splitbrain/splitbrain/checker/linearizable"
)

// Verdict is a checker's judgement.
type Verdict string

// Verdicts. Unknown is never a pass: a checker that ran out of time or had
// too little to go on says unknown. Skipped is a checker that did not
// apply to the run (no events.jsonl for the leader checkers, no lease for
// lease-safety); it does not count towards the overall verdict. Info is a
// measure, or a property the system does not promise (Redis Cluster's lost
// writes, its linearizability): reported, with what was found in the
// summary and details, and never counted towards the verdict either.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown"
	Skipped Verdict = "skipped"
	Info    Verdict = "info"
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
	// Summary is one line for a terminal or a JUnit failure message; for a
	// skipped checker, the reason.
	Summary string `json:"summary"`
	// Details is the checker's evidence: linearizable.Result,
	// ElectionDetails, LeaseDetails, TermDetails, LivenessDetails,
	// ConvergenceDetails, LostWritesDetails or TwoWritersDetails, by Name; nil when there is none. ReadReport decodes it into that type
	// (a checker it does not know keeps a json.RawMessage).
	Details any `json:"details,omitempty"`
}

// UnmarshalJSON decodes Details into the type Name's checker writes.
func (r *Result) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name    string          `json:"name"`
		Verdict Verdict         `json:"verdict"`
		Summary string          `json:"summary"`
		Details json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*r = Result{Name: raw.Name, Verdict: raw.Verdict, Summary: raw.Summary}
	if len(raw.Details) == 0 || string(raw.Details) == "null" {
		return nil
	}
	d, err := decodeDetails(raw.Name, raw.Details)
	if err != nil {
		return fmt.Errorf("%s details: %w", raw.Name, err)
	}
	r.Details = d
	return nil
}

func decodeDetails(name string, b json.RawMessage) (any, error) {
	switch name {
	case NameLinearizable:
		return decodeAs[linearizable.Result](b)
	case NameElectionSafety:
		return decodeAs[ElectionDetails](b)
	case NameLeaseSafety:
		return decodeAs[LeaseDetails](b)
	case NameTermMonotonic:
		return decodeAs[TermDetails](b)
	case NameLiveness:
		return decodeAs[LivenessDetails](b)
	case NameConvergence:
		return decodeAs[ConvergenceDetails](b)
	case NameLostWrites:
		return decodeAs[LostWritesDetails](b)
	case NameTwoWriters:
		return decodeAs[TwoWritersDetails](b)
	default:
		return append(json.RawMessage(nil), b...), nil
	}
}

func decodeAs[T any](b json.RawMessage) (any, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// Combine gives the overall verdict of the checkers that ran (skipped ones
// and information do not count): invalid when any is invalid, valid when
// all are valid, unknown otherwise, and unknown when none ran.
func Combine(results []Result) Verdict {
	v, ran := Valid, 0
	for _, r := range results {
		switch r.Verdict {
		case Skipped, Info:
			continue
		case Invalid:
			return Invalid
		case Valid:
		default:
			v = Unknown
		}
		ran++
	}
	if ran == 0 {
		return Unknown
	}
	return v
}

// asInformation turns r into information: its verdict goes into the
// summary, with why it is not a verdict of this run.
func asInformation(r Result, why string) Result {
	r.Summary = fmt.Sprintf("%s (information: %s): %s", r.Verdict, why, r.Summary)
	r.Verdict = Info
	return r
}
