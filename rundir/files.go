package rundir

// Files of a run directory.
const (
	HistoryFile  = "history.jsonl" // what clients and the nemesis did
	EventsFile   = "events.jsonl"  // what the nodes reported about themselves
	SettingsFile = "run.json"      // the settings (Settings)
	ScheduleFile = "schedule.json" // the fault schedule
	ResultsFile  = "results.json"  // the checkers' verdicts
	ReportFile   = "report.html"   // the report
	JUnitFile    = "junit.xml"     // the CI summary
	ShrinkFile   = "shrink.json"   // how a shrunk run was found (Shrink)
	LogsDir      = "logs"          // logs/NODE.log, one per node
)

// IndexFile is the store's index page, beside the run directories.
const IndexFile = "index.html"
