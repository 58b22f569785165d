// Package reports turns one run directory into what a person reads after a
// nightly run found something: report.html, a page per node log, and
// junit.xml. The store of runs (its index.html and `splitbrain serve`) is
// package store; the nightly matrix's page is package nightly. Both use
// this package's page style (ParsePage) and JUnit types (JUnitSuites).
//
// # The report
//
// Write(dir) renders dir/report.html: one file that opens offline, with no
// external URL (inline CSS, server-side SVG, no script). It shows, in this
// order, the verdict and each checker's result; the run's settings, seed and
// replay command; a leadership timeline (a lane per node, roles coloured by
// term, faults shaded, kills and pauses marked, every window with two
// leaders highlighted with its length); leaderless windows with their
// failover time; client latency (log scale) and throughput with faults
// shaded; the linearizability result with links to the Porcupine
// visualization of each failing key; the faults; and links to the node
// logs. Each logs/<node>.log is copied, escaped, into logs/<node>.html next
// to it, so the report stays small and every link is relative: the run
// directory can be copied or served as it is.
//
// The faults, reigns and windows are package timeline's, which the
// checkers read too, so the report and the verdicts tell one story.
//
// Whatever is missing from the directory (run.json, results.json, events,
// logs, even the history) is reported as missing and the rest is rendered:
// a directory made by hand still gets a report.
//
// Large runs stay usable: the latency plot draws at most one point per
// screen cell and kind and at most maxPoints points overall, preferring fail
// and info outcomes, while every count shown is exact. A 100k-operation run
// renders in well under two seconds into well under 5 MB (see
// BenchmarkWrite100k).
//
// All text from the run (node logs, keys, errors, checker details, settings)
// goes through html/template, so it is escaped for the context it lands in.
//
// # JUnit
//
// Write also writes dir/junit.xml: one test suite for the run, one test case
// per checker. A checker that says invalid is a failure of type "invalid";
// one that says unknown is a failure of type "unknown" too, never a silent
// pass, because unknown means the run proved nothing. A skipped checker
// (it did not apply: no events.jsonl, no lease taken) is a <skipped> case
// with the reason as its message. The failure message
// is the checker's summary; the body adds its details and the replay
// command. With no results.json there is a single failing case "results"
// of type "unknown".
//
// # Tests
//
// TestReportInBrowser renders generated runs and opens them in headless
// Chromium through chromedp (Debian's package "chromium"; CHROME_PATH
// names another binary), checking the verdict and the timeline are on the
// page, that it requests nothing but itself and that nothing from the run
// executes. It skips, saying why, when no browser is found. It keeps
// report.png, report-100k.png and the rendered run directory under
// $ARTIFACTS_DIR/reports when ARTIFACTS_DIR is set, else under
// reports/testdata/artifacts (ignored by git).
package reports
