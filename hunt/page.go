package hunt

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/rundir"
)

//go:embed templates
var templateFS embed.FS

var pageTmpl = template.Must(reports.ParsePage(templateFS, "templates/"+PageFile))

type pageRow struct {
	Trial
	Href, ArmsText, FaultsText, FoundByText, DurationText, ExposureText string
}

type armRow struct {
	Name  string
	Plays int
	Mean  string
}

type pageView struct {
	Summary
	Badge, Target, Effort                                      string
	BudgetText, TrialText, StartedText, ElapsedText, Generated string
	Rows                                                       []pageRow
	Arms                                                       []armRow
}

// writeSummaryArms writes hunt.json and hunt.html into the hunt's
// directory; arms are the guided bandit's, nil for random.
func writeSummaryArms(s Summary, arms []armRow) error {
	if err := rundir.WriteJSON(filepath.Join(s.Dir, SummaryFile), s); err != nil {
		return fmt.Errorf("hunt summary: %w", err)
	}
	b, err := renderPage(s, arms, time.Now())
	if err != nil {
		return err
	}
	return rundir.WriteFile(filepath.Join(s.Dir, PageFile), b)
}

func renderPage(s Summary, arms []armRow, now time.Time) ([]byte, error) {
	v := pageView{Summary: s, Effort: s.Effort(), Arms: arms,
		BudgetText: s.Budget.String(), TrialText: s.Trial.String(),
		StartedText: s.Started.UTC().Format("2006-01-02 15:04:05 MST"), ElapsedText: time.Duration(s.Elapsed).Round(time.Second).String(),
		Generated: now.UTC().Format(time.RFC3339)}
	switch s.ExitCode {
	case 0:
		v.Badge = "valid"
	case 1:
		v.Badge = "invalid"
	default:
		v.Badge = "unknown"
	}
	v.Target = strings.Join(nonEmpty(s.System, s.Algo, s.Bug), " / ")
	for _, t := range s.Trials {
		r := pageRow{Trial: t, ArmsText: strings.Join(t.Arms, " + "), FaultsText: FaultsText(t.Faults),
			FoundByText: strings.Join(t.FoundBy, ", "), DurationText: time.Duration(t.Duration).Round(time.Second).String(),
			ExposureText: time.Duration(t.Exposure).Round(time.Millisecond).String()}
		if t.Compose {
			r.ArmsText += " (composed)"
		}
		if s.Strategy == Guided && len(t.Arms) == 0 {
			r.ArmsText = "blind draw"
		}
		if t.Report != "" {
			if rel, err := filepath.Rel(s.Dir, t.Report); err == nil {
				r.Href = filepath.ToSlash(rel)
			}
		}
		v.Rows = append(v.Rows, r)
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("hunt page: %w", err)
	}
	return buf.Bytes(), nil
}

// ReadSummary reads a hunt directory's hunt.json.
func ReadSummary(dir string) (Summary, error) {
	var s Summary
	b, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		return s, fmt.Errorf("read hunt summary: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, SummaryFile), err)
	}
	return s, nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
