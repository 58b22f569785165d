package reports

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/splitbrain/splitbrain/rundir"
)

//go:embed templates
var templateFS embed.FS

// templates are parsed once, each page with the shared style.
var (
	reportTmpl = template.Must(template.Must(ParsePage(templateFS, "templates/report.html")).ParseFS(templateFS, "templates/shards.css"))
	logTmpl    = template.Must(ParsePage(templateFS, "templates/log.html"))
)

var funcs = template.FuncMap{
	// f1 prints a coordinate with one decimal: enough for a 1200-unit
	// viewBox, and it keeps a large report small.
	"f1":    func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"add":   func(a, b float64) float64 { return a + b },
	"upper": strings.ToUpper,
}

// ParsePage parses the page name in fsys together with the style every
// splitbrain page shares ({{template "style.css"}}) and the report's
// template functions, so that the store's index and the nightly page look
// like the report without a second copy of its style.
func ParsePage(fsys fs.FS, name string) (*template.Template, error) {
	t, err := template.New(path.Base(name)).Funcs(funcs).ParseFS(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("page template %s: %w", name, err)
	}
	if _, err := t.ParseFS(templateFS, "templates/style.css"); err != nil {
		return nil, fmt.Errorf("page template %s: style: %w", name, err)
	}
	return t, nil
}

// maxLogShown bounds the part of one node log copied into its page; the
// end of a log is where a failure shows, so a longer log is cut at its
// start.
const maxLogShown = 16 << 20

// Write renders dir's report.html, a page per node log under logs/, and
// junit.xml. It fails only when dir cannot be read or the files cannot be
// written; anything missing from the run is noted in the report.
func Write(dir string) error {
	return write(dir, time.Now())
}

func write(dir string, now time.Time) error {
	r, err := loadRun(dir)
	if err != nil {
		return err
	}
	v := buildView(r, now)
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, v); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if err := rundir.WriteFile(filepath.Join(r.Dir, rundir.ReportFile), buf.Bytes()); err != nil {
		return err
	}
	for _, l := range r.Logs {
		if err := writeLogPage(r, l); err != nil {
			return err
		}
	}
	j, err := junitXML(r)
	if err != nil {
		return err
	}
	return rundir.WriteFile(filepath.Join(r.Dir, rundir.JUnitFile), j)
}

// writeLogPage copies one node log, escaped, into logs/<node>.html.
func writeLogPage(r *run, l logFile) error {
	f, err := os.Open(l.Path)
	if err != nil {
		return fmt.Errorf("node log: %w", err)
	}
	defer f.Close()
	cut := l.Size > maxLogShown
	if cut {
		if _, err := f.Seek(l.Size-maxLogShown, io.SeekStart); err != nil {
			return fmt.Errorf("node log: %w", err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxLogShown))
	if err != nil {
		return fmt.Errorf("node log: %w", err)
	}
	if cut { // start at a whole line
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	text := string(b)
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	data := struct {
		Node, Run, Size, Raw, Shown string
		Cut                         bool
		Text                        string
	}{
		Node: l.Node, Run: r.Name, Size: fmtBytes(l.Size), Raw: "./" + url.PathEscape(l.Node) + ".log",
		Shown: fmtBytes(int64(len(b))), Cut: cut, Text: text,
	}
	var buf bytes.Buffer
	buf.Grow(len(text) + len(text)/8 + 8<<10)
	if err := logTmpl.Execute(&buf, data); err != nil {
		return fmt.Errorf("render log page: %w", err)
	}
	return rundir.WriteFile(strings.TrimSuffix(l.Path, ".log")+".html", buf.Bytes())
}
