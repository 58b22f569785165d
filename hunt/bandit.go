package hunt

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Bandit is UCB1 over named arms (attack patterns and fault kinds): each
// trial plays a few arms together and every arm played is credited with
// the trial's reward, a number in [0, 1]. An arm never played comes first,
// so that each is tried once; after that the arm with the best mean plus
// exploration bonus sqrt(2 ln N / n) wins. Ties break by the hunt's seeded
// random source, so that a hunt repeats.
type Bandit struct {
	arms  []string
	plays map[string]int
	sum   map[string]float64
	total int
	rng   *rand.Rand
}

// NewBandit makes a bandit over arms, breaking ties with rng.
func NewBandit(arms []string, rng *rand.Rand) *Bandit {
	return &Bandit{arms: slices.Clone(arms), plays: map[string]int{}, sum: map[string]float64{}, rng: rng}
}

// Score is arm's UCB1 index; +Inf before its first play.
func (b *Bandit) Score(arm string) float64 {
	n := b.plays[arm]
	if n == 0 {
		return math.Inf(1)
	}
	return b.sum[arm]/float64(n) + math.Sqrt(2*math.Log(float64(max(b.total, 1)))/float64(n))
}

// Mean is arm's mean reward so far; 0 before its first play.
func (b *Bandit) Mean(arm string) float64 {
	if b.plays[arm] == 0 {
		return 0
	}
	return b.sum[arm] / float64(b.plays[arm])
}

// Plays is how often arm was played.
func (b *Bandit) Plays(arm string) int { return b.plays[arm] }

// Pick returns the k arms (fewer when there are fewer) with the highest
// scores, best first.
func (b *Bandit) Pick(k int) []string {
	type scored struct {
		arm      string
		score, r float64
	}
	s := make([]scored, len(b.arms))
	for i, a := range b.arms {
		s[i] = scored{a, b.Score(a), b.rng.Float64()}
	}
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].score != s[j].score {
			return s[i].score > s[j].score
		}
		return s[i].r < s[j].r
	})
	out := make([]string, 0, k)
	for i := 0; i < k && i < len(s); i++ {
		out = append(out, s[i].arm)
	}
	return out
}

// Reward credits each of arms with r, clamped to [0, 1]. One trial counts
// once towards the total however many arms it played.
func (b *Bandit) Reward(arms []string, r float64) {
	if math.IsNaN(r) {
		r = 0
	}
	r = min(max(r, 0), 1)
	for _, a := range arms {
		if !slices.Contains(b.arms, a) {
			continue
		}
		b.plays[a]++
		b.sum[a] += r
	}
	b.total++
}
