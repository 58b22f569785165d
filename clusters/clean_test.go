package clusters

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

func TestOwnerAlive(t *testing.T) {
	if alive, known := ownerAlive(owner()); !alive || !known {
		t.Errorf("this process: alive %v known %v", alive, known)
	}
	parts := strings.Split(owner(), "/")
	dead := strings.Join([]string{parts[0], parts[1], parts[2], "1"}, "/") // our pid, another start time
	if alive, known := ownerAlive(dead); alive || !known {
		t.Errorf("a dead process: alive %v known %v", alive, known)
	}
	if _, known := ownerAlive("elsewhere/x/1/1"); known {
		t.Error("another host's process is known")
	}
}

// TestClean leaves things behind as a killed run would and has Clean
// remove them, but not what a live run owns.
func TestClean(t *testing.T) {
	needEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := Docker()
	if err != nil {
		t.Fatal(err)
	}
	img, err := BuildImage(ctx, fakeSystem)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(owner(), "/")
	deadOwner := strings.Join([]string{parts[0], parts[1], parts[2], "1"}, "/")
	run := "cleantest" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	mk := func(name, ownerLabel string) {
		labels := map[string]string{LabelRun: run, LabelOwner: ownerLabel}
		if _, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: labels}); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
			Config: &container.Config{Image: img.Tag, Entrypoint: []string{agentPath}, Cmd: []string{"--id", "x", "--", "/fakenode"}, Labels: labels}}); err != nil {
			t.Fatal(err)
		}
	}
	mk("splitbrain-"+run+"-dead", deadOwner)
	mk("splitbrain-"+run+"-live", owner())
	mk("splitbrain-"+run+"-remote", "elsewhere/b/1/1")
	defer CleanRun(context.Background(), run)

	removed, err := Clean(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if removed < 2 {
		t.Errorf("Clean removed %d, want at least the dead run's container and network", removed)
	}
	f := make(client.Filters).Add("label", LabelRun+"="+run)
	cs, _ := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	ns, _ := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	var names []string
	for _, c := range cs.Items {
		names = append(names, c.Names...)
	}
	for _, n := range ns.Items {
		names = append(names, n.Name)
	}
	got := strings.Join(names, " ")
	if strings.Contains(got, "-dead") || strings.Count(got, "-live") != 2 || strings.Count(got, "-remote") != 2 {
		t.Errorf("after Clean: %s", got)
	}
	if n, err := CleanRun(ctx, run); err != nil || n != 4 {
		t.Errorf("CleanRun: %d %v", n, err)
	}
	assertGone(t, run)
}

// TestStartCancelled: a Start interrupted half-way (Ctrl-C) leaves nothing.
func TestStartCancelled(t *testing.T) {
	needEngine(t)
	img, err := BuildImage(context.Background(), fakeSystem)
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{50 * time.Millisecond, 400 * time.Millisecond} {
		run := "cancel" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
		ctx, cancel := context.WithTimeout(context.Background(), after)
		e, err := Start(ctx, fakeSystem, 3, Options{Image: img.Tag, RunID: run})
		cancel()
		if err == nil {
			e.Teardown(context.Background())
			t.Logf("started within %v", after)
		}
		assertGone(t, run)
	}
}

// TestRyukEnv: a value of TESTCONTAINERS_RYUK_DISABLED that would leave
// testcontainers' reaper on (and so make it pull its image) is refused
// with an error naming the variable, before testcontainers is touched.
func TestRyukEnv(t *testing.T) {
	for _, v := range []string{"1", "TRUE", "false"} {
		t.Setenv(ryukEnv, v)
		if err := setupTestcontainers(); err == nil || !strings.Contains(err.Error(), ryukEnv) {
			t.Errorf("%s=%s: %v", ryukEnv, v, err)
		}
	}
}
