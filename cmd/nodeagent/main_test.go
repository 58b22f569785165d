package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	c, err := parseArgs([]string{"--id", "n1", "--clock-url", "http://127.0.0.1:7101/clock", "--mkdir", "/data/n1", "--", "/electd", "--id", "n1"})
	if err != nil || c.id != "n1" || c.port != 7070 || !slices.Equal(c.argv, []string{"/electd", "--id", "n1"}) {
		t.Fatalf("%+v %v", c, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--", "/x"}, "--id"},
		{[]string{"--id", "n1"}, "no server command"},
		{[]string{"--id", "n1", "--listen", "nope", "--", "/x"}, "--listen"},
		{[]string{"--bogus"}, "bogus"},
	} {
		if _, err := parseArgs(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
