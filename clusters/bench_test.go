package clusters

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// BenchmarkStart5ToLeader measures a 5-node electd ensemble from nothing
// (no container, no network) to an elected leader, with the image cached.
// Teardown is outside the timer.
func BenchmarkStart5ToLeader(b *testing.B) {
	needEngine(b)
	ctx := context.Background()
	img, err := BuildImage(ctx, electdSystem)
	if err != nil {
		b.Fatal(err)
	}
	var startT, leaderT time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		e, err := Start(ctx, electdSystem, 5, Options{Image: img.Tag})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, _, err = waitLeader(wctx, e.Nodes(), "")
		cancel()
		t2 := time.Now()
		startT += t1.Sub(t0)
		leaderT += t2.Sub(t1)
		b.StopTimer()
		if terr := e.Teardown(ctx); terr != nil {
			b.Fatal(terr)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(startT.Milliseconds())/float64(b.N), "ms-start/op")
	b.ReportMetric(float64(leaderT.Milliseconds())/float64(b.N), "ms-election/op")
}

// BenchmarkColdImage measures building electd's node image when the engine
// doesn't have it: go build of the agent and electd (Go's build cache as
// it is) plus the image build. The image is removed first, so this also
// leaves it rebuilt.
func BenchmarkColdImage(b *testing.B) {
	needEngine(b)
	ctx := context.Background()
	cli, err := Docker()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		b.StopTimer()
		imageMu.Lock()
		clear(imageCache)
		imageMu.Unlock()
		img, err := BuildImage(ctx, electdSystem)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cli.ImageRemove(ctx, img.Tag, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			b.Fatal(err)
		}
		imageMu.Lock()
		clear(imageCache)
		imageMu.Unlock()
		b.StartTimer()
		img, err = BuildImage(ctx, electdSystem)
		if err != nil {
			b.Fatal(err)
		}
		if img.Cached {
			b.Fatal("the image was still there")
		}
	}
}

// BenchmarkWarmImage is BuildImage in a new process with the image on the
// engine: go build of both binaries and a hash, no image build.
func BenchmarkWarmImage(b *testing.B) {
	needEngine(b)
	ctx := context.Background()
	for range b.N {
		imageMu.Lock()
		clear(imageCache)
		imageMu.Unlock()
		img, err := BuildImage(ctx, electdSystem)
		if err != nil {
			b.Fatal(err)
		}
		if !img.Cached {
			b.StopTimer() // first round built it
			b.StartTimer()
		}
	}
}
