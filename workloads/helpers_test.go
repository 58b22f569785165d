package workloads

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

func jsonDecode(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(v)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// hostPort is the address of an httptest server's URL, as an Endpoint has it.
func hostPort(url string) string { return strings.TrimPrefix(url, "http://") }
