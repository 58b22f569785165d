package workloads

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/splitbrain/splitbrain/history"
)

// EncodeValue is how a system that stores bytes (a znode, an etcd key)
// holds a register's value: the int64 in decimal.
func EncodeValue(v int64) []byte { return strconv.AppendInt(nil, v, 10) }

// DecodeValue reads what EncodeValue wrote; anything else is an error
// (garbage from a node is an indeterminate outcome, never a crash).
func DecodeValue(b []byte) (int64, error) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("value %.40q is not a decimal int64", b)
	}
	return v, nil
}

// ReadOutcome is a successful read's outcome for the stored value b: ok
// with the value, or info when b is not what EncodeValue writes (the read
// happened, but what it saw is not a value of ours).
func ReadOutcome(b []byte) Outcome {
	v, err := DecodeValue(b)
	if err != nil {
		return Outcome{Type: history.Info, Error: err.Error()}
	}
	return Outcome{Type: history.OK, Value: history.IntValue(v)}
}

// StrictJSON decodes b, a node's answer, into v: one JSON value and
// nothing after it.
func StrictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
