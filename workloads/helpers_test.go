package workloads

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

func jsonDecode(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(v)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
