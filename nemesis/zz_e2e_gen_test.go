package nemesis

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZZWriteE2E(t *testing.T) {
	dir := os.Getenv("E2E_DIR")
	if dir == "" {
		t.Skip()
	}
	seed, _ := strconv.ParseInt(os.Getenv("E2E_SEED"), 10, 64)
	n, _ := strconv.Atoi(os.Getenv("E2E_NODES"))
	var nodes []string
	for i := 1; i <= n; i++ {
		nodes = append(nodes, "n"+strconv.Itoa(i))
	}
	w := map[string]float64{}
	for _, p := range strings.Split(os.Getenv("E2E_PATTERNS"), ",") {
		w[p] = 1
	}
	limit, _ := time.ParseDuration(os.Getenv("E2E_LIMIT"))
	s := GenerateMix(seed, nodes, Mix{Kinds: []string{"partition", "kill", "pause", "clock"}, Patterns: w, Compose: true}, 2*time.Second, limit)
	if err := s.WriteFile(dir + "/schedule.json"); err != nil {
		t.Fatal(err)
	}
}
