package clusters_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/systems/electd"
)

// A run: clean what killed runs left, build the image once, start five
// nodes, record their events, inject faults, and tear down also on Ctrl-C.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := clusters.Clean(ctx); err != nil {
		fmt.Println(err)
	}
	sys := electd.System(electd.Options{Algo: "raft"})
	img, err := clusters.BuildImage(ctx, sys)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Now() // the run's zero on the host clock
	events := make(chan history.Event, 1024)
	e, err := clusters.Start(ctx, sys, 5, clusters.Options{
		Image: img.Tag,
		OnEvent: func(ev clusters.Event) {
			events <- clusters.HistoryEvent(ev, start) // to events.jsonl
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Teardown takes its own context: it must run after Ctrl-C cancelled ctx.
	defer e.Teardown(context.Background())

	n := e.Nodes()
	_ = n[0].Addr // clients on the host talk to this, also during partitions
	_ = e.Partition(ctx, []string{"n1", "n2"}, []string{"n3", "n4", "n5"})
	_ = e.Heal(ctx)
	_ = e.Kill(ctx, "n3")
	_ = e.Start(ctx, "n3")
	_ = e.Pause(ctx, "n4")
	_ = e.Resume(ctx, "n4")
	_ = e.Clock(ctx, "n5", 200*time.Millisecond, 1.5)
	if err := e.Netem(ctx, "n2", 50*time.Millisecond, 0); errors.Is(err, errors.ErrUnsupported) {
		fmt.Println("no netem here:", err)
	}
	logs, _ := e.Logs(ctx, "n1") // before Teardown: it removes the containers
	_ = logs
}
