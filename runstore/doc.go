// Package runstore is the run store: a directory of run directories, as
// `splitbrain run` and `splitbrain nightly` fill it. It writes the store's
// index.html and serves the store over HTTP (`splitbrain serve`); one run's
// report is package reports.
//
// (The package is not called store because ./store is the commands'
// default run store: runs made from the repository's top directory would
// land among the package's sources.)
//
// # The index
//
// WriteIndex(dir) writes dir/index.html listing every run directory in the
// store (a subdirectory, not hidden, holding run.json, results.json or
// history.jsonl: IsRun) with its name, date, system, faults and verdict,
// newest first, each linked to its report, or to its directory when it has
// no report yet (Link). It reads only run.json and results.json, so it
// stays quick for a store of large runs. It is one self-contained page in
// the report's style.
//
// # Serving
//
// Handler serves a store with Go's ServeMux patterns:
//
//	GET /                  the index, rendered afresh (index.html too)
//	GET /{name}            a file beside the runs (nightly.html, ...)
//	GET /{run}/            the run's report: a redirect to report.html
//	GET /{run}/{file...}   the run's files; report.html is (re)built first
//	                       when missing or older than results.json,
//	                       history.jsonl, events.jsonl or run.json
//
// Files are read through an os.Root on the store, so no path (".." in any
// spelling, a symbolic link) reaches outside it; names starting with "."
// are not served; a report is built only in a run directory that is in
// the store itself, not linked into it. One report is built at a time.
package runstore
