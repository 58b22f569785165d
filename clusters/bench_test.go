package clusters

import (
	"context"
	"fmt"
	"os"
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
// doesn't have it (the image is removed first, and rebuilt, so it stays):
// "binaries-cached" with the agent and electd binaries in splitbrain's
// binary cache, "go-build" without them (go build of both, with Go's own
// build cache as it is, plus the image build).
func BenchmarkColdImage(b *testing.B) {
	needEngine(b)
	b.Run("binaries-cached", func(b *testing.B) { benchColdImage(b, false) })
	b.Run("go-build", func(b *testing.B) { benchColdImage(b, true) })
}

func benchColdImage(b *testing.B, noBinCache bool) {
	ctx := context.Background()
	cli, err := Docker()
	if err != nil {
		b.Fatal(err)
	}
	// A system of its own, salted per round: its image shares nothing with
	// the images other runs on this engine use, and removing it afterwards
	// disturbs nobody.
	sys := electdSystem
	sys.Name = "electd-coldbench"
	defer func() { imageSalt = ""; userCacheDir = os.UserCacheDir }()
	for i := range b.N {
		b.StopTimer()
		imageMu.Lock()
		clear(imageCache)
		imageMu.Unlock()
		imageSalt = fmt.Sprintf("%d-%d", time.Now().UnixNano(), i)
		if noBinCache {
			dir := b.TempDir()
			userCacheDir = func() (string, error) { return dir, nil }
		}
		b.StartTimer()
		img, err := BuildImage(ctx, sys)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if img.Cached {
			b.Fatal("the image was already there")
		}
		if _, err := cli.ImageRemove(ctx, img.Tag, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			b.Fatal(err)
		}
		userCacheDir = os.UserCacheDir
		b.StartTimer()
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
