package reports

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/rundir"
)

// JUnitSuites is a JUnit XML file as CI systems read it (the
// Jenkins/Surefire dialect that GitLab, GitHub actions and Buildkite
// accept). One run's file (junit.xml) and the nightly matrix's file share
// these types; MarshalJUnit writes them.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr,omitempty"`
	Time     string       `xml:"time,attr,omitempty"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is one test suite.
type JUnitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Time       string          `xml:"time,attr"`
	Properties []JUnitProperty `xml:"properties>property,omitempty"`
	Cases      []JUnitCase     `xml:"testcase"`
}

// JUnitProperty is one of a suite's properties.
type JUnitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// JUnitCase is one test case: passed unless it has a Failure, an Error or
// is Skipped.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *JUnitFailure `xml:"failure,omitempty"`
	Error     *JUnitFailure `xml:"error,omitempty"` // the test could not run
	Skipped   *JUnitSkip    `xml:"skipped,omitempty"`
	SystemOut *JUnitText    `xml:"system-out,omitempty"`
}

// JUnitText is CDATA, which keeps the lines readable in the raw file.
type JUnitText struct {
	Text string `xml:",cdata"`
}

// JUnitSkip marks a skipped case, with why.
type JUnitSkip struct {
	Message string `xml:"message,attr"`
}

// JUnitFailure is a failed case (or, as a case's Error, one that could
// not run).
type JUnitFailure struct {
	Type    string `xml:"type,attr"`
	Message string `xml:"message,attr"`
	Body    string `xml:",cdata"` // CDATA keeps the text readable in the raw file
}

// maxFailureDetails bounds the details copied into a failure body: CI
// pages show it inline, and the report has the rest.
const maxFailureDetails = 8 << 10

// junitXML describes the run as one suite with a case per checker. Invalid
// and unknown verdicts are both failures (typed "invalid" and "unknown"):
// an unknown checker proved nothing, and a nightly job that passed on it
// would hide that.
func junitXML(r *run) ([]byte, error) {
	class := "splitbrain." + r.Name
	suite := JUnitSuite{Name: class, Time: fmt.Sprintf("%.3f", float64(r.End)/1e9)}
	if t, ok := r.started(); ok {
		suite.Timestamp = t.UTC().Format("2006-01-02T15:04:05")
	}
	for _, f := range r.Settings.Fields() {
		suite.Properties = append(suite.Properties, JUnitProperty{Name: f.Name, Value: f.Value})
	}
	replay := r.Settings.Replay
	tail := "\n\nreport: " + rundir.ReportFile + " in the run directory"
	if replay != "" {
		tail = "\n\nreplay: " + replay + tail
	}
	if r.Results == nil {
		suite.Cases = append(suite.Cases, JUnitCase{
			Name: "results", Classname: class, Time: "0",
			Failure: &JUnitFailure{Type: "unknown", Message: "no results.json: the run was not checked",
				Body: strings.Join(r.Notes, "\n") + tail},
		})
	} else {
		for _, c := range r.Results.Checkers {
			jc := JUnitCase{Name: c.Name, Classname: class, Time: "0"}
			verdict := orUnknown(string(c.Verdict))
			switch c.Verdict {
			case checker.Valid:
			case checker.Info:
				// A measure, or what the system does not promise: it
				// passes, and says what it found.
				jc.SystemOut = &JUnitText{"info: " + c.Summary}
			case checker.Skipped:
				jc.Skipped = &JUnitSkip{Message: c.Summary}
			default:
				body := c.Summary
				if d := prettyJSON(c.Details, maxFailureDetails); d != "" {
					body += "\n\n" + d
				}
				jc.Failure = &JUnitFailure{Type: verdict, Message: verdict + ": " + c.Summary, Body: body + tail}
			}
			suite.Cases = append(suite.Cases, jc)
		}
		if len(r.Results.Checkers) == 0 {
			suite.Cases = append(suite.Cases, JUnitCase{
				Name: "results", Classname: class, Time: "0",
				Failure: &JUnitFailure{Type: "unknown", Message: "results.json lists no checker", Body: tail},
			})
		}
		if len(r.Results.Warnings) > 0 {
			suite.Cases[0].SystemOut = &JUnitText{"warnings:\n" + strings.Join(r.Results.Warnings, "\n")}
		}
	}
	suite.Tests = len(suite.Cases)
	for _, c := range suite.Cases {
		if c.Failure != nil {
			suite.Failures++
		}
		if c.Skipped != nil {
			suite.Skipped++
		}
	}
	doc := JUnitSuites{Name: "splitbrain", Tests: suite.Tests, Failures: suite.Failures, Skipped: suite.Skipped, Suites: []JUnitSuite{suite}}
	return MarshalJUnit(doc)
}

// MarshalJUnit renders doc as an indented XML file with its header.
func MarshalJUnit(doc JUnitSuites) ([]byte, error) {
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("junit: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
