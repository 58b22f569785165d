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
	v := newValidator()
	warnings, err = eachLine(r, name, func(text []byte) error {
		var op Op
		if err := json.Unmarshal(text, &op); err != nil {
			return fmt.Errorf("not a history entry: %v", err)
		}
		if err := v.check(&op, int64(len(ops))); err != nil {
			return err
		}
		ops = append(ops, op)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ops, warnings, nil
}

// eachLine hands every non-blank line of r to parse, which must not keep
// the slice. A parse error on the last line, when that line has no newline
// (the writer died in the middle of it), becomes a warning; any other error
// stops the reading as a *ParseError.
func eachLine(r io.Reader, name string, parse func(text []byte) error) (warnings []string, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than the reader's buffer, gathered
	for no := 1; ; no++ {
		text, rerr := br.ReadSlice('\n')
		for errors.Is(rerr, bufio.ErrBufferFull) {
			long = append(long, text...)
			if len(long) > maxLine {
				return nil, &ParseError{File: name, Line: no, Err: errLineTooLong}
			}
			text, rerr = br.ReadSlice('\n')
		}
		if long != nil {
			text, long = append(long, text...), nil
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", name, rerr)
		}
		terminated := rerr == nil
		if len(text) > maxLine {
			return nil, &ParseError{File: name, Line: no, Err: errLineTooLong}
		}
		if line := bytes.TrimSpace(text); len(line) > 0 {
			if perr := parse(line); perr != nil {
				if !terminated {
					return append(warnings, fmt.Sprintf("%s:%d: dropped the truncated last line (%v)", name, no, perr)), nil
				}
				return nil, &ParseError{File: name, Line: no, Err: perr}
			}
		}
		if !terminated {
			return warnings, nil
		}
	}
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes", maxLine)

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
