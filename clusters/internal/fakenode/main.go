// Command fakenode is a stand-in contract node for the clusters tests: it
// elects nobody, but serves GET /status (with its clock offset), POST
// /clock, GET /peer/{id} (a request to a peer's /status, to see
// partitions), writes a file into its data dir to show that data survives
// restarts, and prints a lease event after each clock change.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

func main() {
	id := flag.String("id", "", "")
	listen := flag.String("listen", ":7101", "")
	peers := flag.String("peers", "", "")
	data := flag.String("data", "", "")
	flag.Parse()
	peer := map[string]string{}
	for _, p := range strings.Split(*peers, ",") {
		if k, v, ok := strings.Cut(p, "="); ok {
			peer[k] = v
		}
	}
	starts := 1
	f := filepath.Join(*data, "starts")
	if b, err := os.ReadFile(f); err == nil {
		fmt.Sscan(string(b), &starts)
		starts++
	}
	os.WriteFile(f, []byte(fmt.Sprint(starts)), 0o644)

	var mu sync.Mutex
	var offset time.Duration
	rate, at := 1.0, time.Now()
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at.Add(offset + time.Duration(float64(time.Since(at))*rate))
	}
	emit := func(v map[string]any) {
		b, _ := json.Marshal(v)
		os.Stdout.Write(append(b, '\n'))
	}
	emit(map[string]any{"event": "role", "role": "follower", "term": 1})
	fmt.Println("plain log line, not an event")

	http.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		off := offset
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"id": *id, "role": "follower", "term": 1, "leader": "",
			"commit": starts, "clock_offset_ms": off.Milliseconds()})
	})
	http.HandleFunc("POST /clock", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			OffsetMS int64   `json:"offset_ms"`
			Rate     float64 `json:"rate"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if req.Rate == 0 {
			req.Rate = 1
		}
		mu.Lock()
		at, offset, rate = time.Now(), time.Duration(req.OffsetMS)*time.Millisecond, req.Rate
		mu.Unlock()
		l := now()
		// A lease of one true second from now, in local time.
		emit(map[string]any{"event": "lease", "term": 1,
			"until_local_ms": l.Add(time.Duration(float64(time.Second) * req.Rate)).UnixMilli()})
		w.Write([]byte("{}"))
	})
	http.HandleFunc("GET /peer/{id}", func(w http.ResponseWriter, r *http.Request) {
		addr, ok := peer[r.PathValue("id")]
		if !ok {
			http.Error(w, "no such peer", 404)
			return
		}
		// One shared transport: connections are kept and reused, so a
		// partition must cut established ones.
		ctx, cancel := context.WithTimeout(r.Context(), 500*time.Millisecond)
		defer cancel()
		reused := false
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, fmt.Sprintf("reused=%v: %v", reused, err), http.StatusGatewayTimeout)
			return
		}
		io.Copy(io.Discard, resp.Body) // so the connection is kept for reuse
		resp.Body.Close()
		w.Write([]byte("{}"))
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
