package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/splitbrain/splitbrain/history"
)

// Run applies the schedule's episodes at their offsets from start, each
// healed at its end, until the schedule is done or ctx is. An episode that
// starts before the ones in force end runs alongside them (a composed
// fault); one that starts later waits for them to be healed first, so
// that faults drawn one after the other never overlap, even when a heal
// runs late. Faults in effect when ctx ends are healed before Run returns,
// the last applied first. The error is the history's: a fault that could
// not be applied is recorded and logged, not returned; after a history
// error no further episode starts.
func (n *Nemesis) Run(ctx context.Context, s Schedule, start time.Time) error {
	r := &running{}
	for _, ep := range s.Episodes {
		at := start.Add(time.Duration(ep.At))
		if !waitUntil(ctx, at) {
			break
		}
		r.waitEnded(time.Duration(ep.At))
		if r.failed() || ctx.Err() != nil {
			break
		}
		r.launch(ctx, ep, func(l *live) error { return n.episode(ctx, ep, start.Add(ep.End()), r, l) })
	}
	return r.wait()
}

// running is the episodes of a Run in force or being healed.
type running struct {
	mu    sync.Mutex
	lives []*live // in the order they started
	errs  []error
	wg    sync.WaitGroup
}

// live is one episode of a run.
type live struct {
	end  time.Duration // its end, from the schedule
	done chan struct{}
}

func (r *running) launch(_ context.Context, ep Episode, play func(*live) error) {
	l := &live{end: ep.End(), done: make(chan struct{})}
	r.mu.Lock()
	r.lives = append(r.lives, l)
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(l.done)
		if err := play(l); err != nil {
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
		}
	}()
}

// waitEnded waits for the episodes that end by at to be done.
func (r *running) waitEnded(at time.Duration) {
	r.mu.Lock()
	var ended []*live
	for _, l := range r.lives {
		if l.end <= at {
			ended = append(ended, l)
		}
	}
	r.mu.Unlock()
	for _, l := range ended {
		<-l.done
	}
}

// after waits for the episodes started after l to be done: when a run is
// cut short, the faults applied last are healed first.
func (r *running) after(l *live) {
	r.mu.Lock()
	i := slices.Index(r.lives, l)
	later := slices.Clone(r.lives[i+1:])
	r.mu.Unlock()
	for _, o := range later {
		<-o.done
	}
}

func (r *running) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs) > 0
}

func (r *running) wait() error {
	r.wg.Wait()
	return errors.Join(r.errs...)
}

// episode aims ep, applies its faults, keeps them until end (or ctx) and
// heals them.
func (n *Nemesis) episode(ctx context.Context, ep Episode, end time.Time, r *running, l *live) error {
	if len(ep.Order) == 0 {
		n.skip(ep, ep.Kind, "no nodes to aim at")
		return nil
	}
	if ep.Pattern != "" {
		id := n.setActive(ep.String(), false)
		defer n.clearActive(id)
		return n.attack(ctx, ep, end, func() { r.after(l) })
	}
	if why := n.skipping(ep.Kind); why != "" {
		n.skip(ep, ep.Kind, why)
		return nil
	}
	order, ok := n.order(ctx, ep)
	if !ok {
		return nil // ctx ended while waiting for a leader: nothing applied
	}
	fs := faults(ep, order)
	in, err := n.apply(ctx, ep, fs)
	var id int
	if len(in) > 0 && err == nil {
		id = n.setActive(fmt.Sprintf("%s %s", ep.String(), fs[0].Nodes()), true)
		waitUntil(ctx, end)
	}
	if ctx.Err() != nil {
		r.after(l)
	}
	err = errors.Join(err, n.healAll(ctx, in))
	n.clearActive(id)
	return err
}

// apply injects fs in turn and returns those in effect. It stops at a
// history error, returning what is in effect so far to be healed.
func (n *Nemesis) apply(ctx context.Context, ep Episode, fs []Fault) ([]Injected, error) {
	var in []Injected
	for _, f := range fs {
		inj, err := n.inject(ctx, ep, f)
		if inj != nil {
			in = append(in, *inj)
		}
		if err != nil {
			return in, err
		}
	}
	return in, nil
}

// healAll heals faults applied together, the last applied first.
func (n *Nemesis) healAll(ctx context.Context, in []Injected) error {
	var errs []error
	for _, inj := range slices.Backward(in) {
		errs = append(errs, n.heal(ctx, inj))
	}
	return errors.Join(errs...)
}

func (n *Nemesis) skip(ep Episode, kind, why string) {
	n.cfg.Log.Info("nemesis: skipped a fault", "fault", ep.String(), "kind", kind, "why", why)
}

var errNoLeader = errors.New("no leader known")

// order is ep's node order for now. When ep aims at the leader it waits
// (bounded by LeaderWait) for one to be known, and without one takes the
// drawn order. false when ctx ended first.
func (n *Nemesis) order(ctx context.Context, ep Episode) ([]string, bool) {
	if ep.Targets != "" {
		return n.aimAtCut(ep), true
	}
	if !ep.Leader {
		return ep.Resolve(""), true
	}
	leader, err := backoff.Retry(ctx, func() (string, error) {
		if l := n.cfg.Leader(); l != "" {
			return l, nil
		}
		return "", errNoLeader
	}, backoff.WithBackOff(backoff.NewConstantBackOff(50*time.Millisecond)), backoff.WithMaxElapsedTime(n.cfg.LeaderWait))
	if ctx.Err() != nil {
		return nil, false
	}
	if err != nil {
		n.cfg.Log.Info("nemesis: no leader known; the fault takes the drawn node instead", "fault", ep.String(), "node", ep.Order[0])
	}
	return ep.Resolve(leader), true
}

// inject applies f (within one step) and records its start. It returns
// what is in effect, nil when nothing is: f's kind is skipped here, or
// turned out unsupported.
func (n *Nemesis) inject(ctx context.Context, ep Episode, f Fault) (*Injected, error) {
	if why := n.skipping(f.Kind()); why != "" {
		n.skip(ep, f.Kind(), why)
		return nil, nil
	}
	claims := claimsOf(f)
	if who := n.claim(claims); who != "" {
		n.skip(ep, f.Kind(), "overlaps a fault in force on "+who)
		return nil, nil
	}
	sctx, cancel := n.step(ctx)
	defer cancel()
	inj, err := f.Inject(sctx, n.cluster())
	if errors.Is(err, errors.ErrUnsupported) {
		n.release(claims)
		n.markUnsupported(f.Kind(), err)
		return nil, nil
	}
	inj.claims = claims
	if cuts(f.Kind()) {
		n.setCut(f.Nodes())
	}
	if ep.Pattern != "" {
		inj.Start.Value["pattern"] = ep.Pattern
		inj.Stop.Value["pattern"] = ep.Pattern
	}
	return &inj, n.record(inj.Start, err)
}

// heal undoes inj, retrying a failure (bounded) so that a run never leaves
// a fault in place, and records the stop entry once healed or given up
// on. It outlives ctx on purpose: a run that was cut short heals all the
// same.
func (n *Nemesis) heal(ctx context.Context, inj Injected) error {
	hctx := context.WithoutCancel(ctx)
	_, err := backoff.Retry(hctx, func() (struct{}, error) {
		sctx, cancel := n.step(hctx)
		defer cancel()
		return struct{}{}, inj.Heal(sctx)
	}, backoff.WithMaxTries(3), backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval: 200 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second}))
	n.release(inj.claims)
	return n.record(inj.Stop, err)
}

// step bounds one fault action. It does not end with ctx: an action
// started is finished (a half-applied partition is worse than a late one).
func (n *Nemesis) step(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), n.cfg.Step)
}

// record writes a nemesis entry, with err when the action failed.
func (n *Nemesis) record(e Entry, err error) error {
	op := history.Op{Process: history.Nemesis, Type: history.Info, F: string(e.F), Node: e.Node, Value: history.RawValue(e.Value)}
	if err != nil {
		op.Error = err.Error()
		n.cfg.Log.Warn("nemesis: fault action failed", "f", e.F, "err", err)
	}
	if _, werr := n.cfg.History.Append(op); werr != nil {
		return fmt.Errorf("record %s: %w", e.F, werr)
	}
	return nil
}

// waitUntil waits for t; false when ctx ended first.
func waitUntil(ctx context.Context, t time.Time) bool {
	if !time.Now().Before(t) {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
