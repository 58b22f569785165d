package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxLine bounds one line of a history file, so that garbage cannot make
// the reader allocate without limit.
const maxLine = 1 << 20

// ParseError names the file and line at fault.
type ParseError struct {
	File string
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// ReadFile reads a history.jsonl file; see Read.
func ReadFile(path string) (ops []Op, warnings []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open history: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read parses and validates a history. A last line that does not parse (the
// harness died while writing it) is dropped with a warning; any other bad
// line is a *ParseError naming name and the line.
func Read(r io.Reader, name string) (ops []Op, warnings []string, err error) {
	lines, warnings, err := readLines(r, name)
	if err != nil {
		return nil, nil, err
	}
	v := newValidator()
	for i, ln := range lines {
		var op Op
		perr := decodeOp(ln.text, &op)
		if perr == nil {
			perr = v.check(&op, int64(len(ops)))
		}
		if perr != nil {
			if i == len(lines)-1 && !ln.terminated {
				warnings = append(warnings, fmt.Sprintf("%s:%d: dropped the truncated last line (%v)", name, ln.no, perr))
				break
			}
			return nil, nil, &ParseError{File: name, Line: ln.no, Err: perr}
		}
		ops = append(ops, op)
	}
	return ops, warnings, nil
}

type line struct {
	no         int
	text       []byte
	terminated bool // ended with a newline
}

// readLines splits r into non-blank lines. A final line longer than maxLine
// is treated like any truncated last line.
func readLines(r io.Reader, name string) ([]line, []string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []line
	var warnings []string
	for no := 1; ; no++ {
		text, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, errLineTooLong) {
				return nil, nil, &ParseError{File: name, Line: no, Err: err}
			}
			return nil, nil, fmt.Errorf("read %s: %w", name, err)
		}
		terminated := err == nil
		if len(bytes.TrimSpace(text)) > 0 {
			out = append(out, line{no: no, text: text, terminated: terminated})
		}
		if !terminated {
			return out, warnings, nil
		}
	}
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes", maxLine)

func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, errLineTooLong
		}
		if err == nil {
			return bytes.TrimRight(buf, "\r\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, err
		}
	}
}

func decodeOp(text []byte, op *Op) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(op); err != nil {
		return fmt.Errorf("not a history entry: %v", err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// validator enforces what docs/run-format.md promises about an entry and
// its place in the history.
type validator struct {
	open     map[Process]*Op // each client's invocation awaiting its completion
	finished map[Process]bool
	lastTime int64
}

func newValidator() *validator {
	return &validator{open: map[Process]*Op{}, finished: map[Process]bool{}}
}

func (v *validator) check(op *Op, want int64) error {
	if op.Index != want {
		return fmt.Errorf("index is %d, expected %d (indexes are dense from 0)", op.Index, want)
	}
	if op.Time < 0 {
		return fmt.Errorf("time %d is negative", op.Time)
	}
	if op.F == "" {
		return errors.New(`"f" is missing`)
	}
	switch op.Type {
	case Invoke, OK, Fail, Info:
	default:
		return fmt.Errorf(`type %q is not one of "invoke", "ok", "fail", "info"`, op.Type)
	}
	if op.Process == Nemesis {
		if op.Type != Info {
			return fmt.Errorf(`nemesis entries have type "info", got %q`, op.Type)
		}
		return nil
	}
	if isRegister(op.F) {
		if err := checkRegisterValue(op); err != nil {
			return err
		}
	}
	inv, isOpen := v.open[op.Process]
	if op.Type == Invoke {
		if isOpen {
			return fmt.Errorf("process %d invokes %s while its %s at index %d is still open", op.Process, op.F, inv.F, inv.Index)
		}
		if v.finished[op.Process] {
			return fmt.Errorf("process %d invokes again after an info outcome (a client goes on under a new process)", op.Process)
		}
		cp := *op
		v.open[op.Process] = &cp
		return nil
	}
	if !isOpen {
		return fmt.Errorf("process %d completes %s with no open invocation", op.Process, op.F)
	}
	if inv.F != op.F || inv.Key != op.Key {
		return fmt.Errorf("process %d completes %s %q but invoked %s %q at index %d", op.Process, op.F, op.Key, inv.F, inv.Key, inv.Index)
	}
	if op.Time < inv.Time {
		return fmt.Errorf("completion at time %d precedes its invocation at %d", op.Time, inv.Time)
	}
	delete(v.open, op.Process)
	if op.Type == Info {
		v.finished[op.Process] = true
	}
	return nil
}

func isRegister(f string) bool { return f == FRead || f == FWrite || f == FCAS }

func checkRegisterValue(op *Op) error {
	v := op.Value
	switch op.F {
	case FWrite:
		if v.Kind != Int {
			return fmt.Errorf("write value must be an integer, got %s", v)
		}
	case FCAS:
		if v.Kind != Pair {
			return fmt.Errorf("cas value must be [expected, new], got %s", v)
		}
	case FRead:
		if op.Type == OK && v.Kind != Int && v.Kind != None {
			return fmt.Errorf("read result must be an integer or null, got %s", v)
		}
		if op.Type != OK && v.Kind != None && v.Kind != Int {
			return fmt.Errorf("read value must be null, got %s", v)
		}
	}
	return nil
}
