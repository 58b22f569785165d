package rundir

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Shrink is shrink.json: what splitbrain shrink did to find the run
// directory it is in, the failing replay of the smallest schedule. Its
// confirmation replays say how reliably that schedule fails, which a
// single failing replay cannot.
type Shrink struct {
	ShrunkFrom   string   `json:"shrunk_from"` // the original run, absolute
	FaultsBefore int      `json:"faults_before"`
	FaultsAfter  int      `json:"faults_after"`
	Checkers     []string `json:"checkers"`   // the original's invalid checkers: what a replay had to fail by
	Minimal      bool     `json:"minimal"`    // the search ended: no single fault can be removed from Smaller's schedule, or this one's
	Candidates   int      `json:"candidates"` // schedules tried
	Replays      int      `json:"replays"`    // replays run, confirmations included
	// OriginalReplays is how many replays of the original schedule it
	// took to fail again (the last one failed).
	OriginalReplays int `json:"original_replays"`
	// Confirmations replays of this run's schedule, after the search,
	// Confirmed of them failing by one of Checkers.
	Confirmations int `json:"confirmations"`
	Confirmed     int `json:"confirmed"`
	// Smaller is the smallest failing schedule the search found, when it
	// failed again in fewer than half its confirmations and this larger
	// one, found on the way, more often; nil when this one is it.
	Smaller *Smaller `json:"smaller,omitempty"`
}

// Smaller is a smaller failing schedule that shrink set aside: Faults
// faults, failing again in Confirmed of Confirmations replays.
type Smaller struct {
	Faults        int `json:"faults"`
	Confirmations int `json:"confirmations"`
	Confirmed     int `json:"confirmed"`
}

// String says what was set aside, for the shrink command and the report.
func (s Smaller) String() string {
	faults := fmt.Sprintf("%d faults", s.Faults)
	if s.Faults == 1 {
		faults = "1 fault"
	}
	return fmt.Sprintf("the smallest failing schedule found (%s) failed again in only %d of %d replays", faults, s.Confirmed, s.Confirmations)
}

// ReadShrink reads dir/shrink.json; os.ErrNotExist when the run is not one
// splitbrain shrink made.
func ReadShrink(dir string) (Shrink, error) {
	var s Shrink
	path := filepath.Join(dir, ShrinkFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read shrink: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// WriteShrink writes s as dir/shrink.json.
func WriteShrink(dir string, s Shrink) error { return WriteJSON(filepath.Join(dir, ShrinkFile), s) }
