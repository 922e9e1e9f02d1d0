package natsbus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// timeline records who worked on which key when.
type timeline struct {
	mu     sync.Mutex
	spans  []span
	active map[string]int // key@holder -> index in spans
}

type span struct {
	key, holder string
	from, to    time.Time // to is zero while running
}

func (tl *timeline) start(key, holder string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.active[key+"@"+holder] = len(tl.spans)
	tl.spans = append(tl.spans, span{key: key, holder: holder, from: time.Now()})
}

func (tl *timeline) stop(key, holder string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if i, ok := tl.active[key+"@"+holder]; ok {
		tl.spans[i].to = time.Now()
		delete(tl.active, key+"@"+holder)
	}
}

// holding counts the keys each holder works on now.
func (tl *timeline) holding() map[string]int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := map[string]int{}
	for _, s := range tl.spans {
		if s.to.IsZero() {
			n[s.holder]++
		}
	}
	return n
}

// overlaps lists any two holders that worked on one key at the same time.
func (tl *timeline) overlaps() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var bad []string
	end := func(s span) time.Time {
		if s.to.IsZero() {
			return time.Now().Add(time.Hour)
		}
		return s.to
	}
	for i, a := range tl.spans {
		for _, b := range tl.spans[i+1:] {
			if a.key == b.key && a.holder != b.holder && a.from.Before(end(b)) && b.from.Before(end(a)) {
				bad = append(bad, fmt.Sprintf("%s held by %s and %s at once", a.key, a.holder, b.holder))
			}
		}
	}
	return bad
}

func runKeeper(ctx context.Context, t *testing.T, c *Conn, holder string, keys []string, tl *timeline) {
	t.Helper()
	leases, err := c.Leases(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	k := &Keeper{
		Leases: leases, Holder: holder, Max: len(keys),
		Keys:  func(context.Context) ([]string, error) { return keys, nil },
		Start: func(key string) { tl.start(key, holder) },
		Stop:  func(key string, _ error) { tl.stop(key, holder) },
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	go k.Run(ctx)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Four cameras on two workers: two each. One worker is cut off from NATS
// (as a killed or partitioned worker is): it stops its cameras on its own
// before its leases expire, and the other worker runs all four within 10 s;
// a worker that joins later gets its share back. No camera is ever run by
// two workers at once.
func TestKeeperSpreadsAndFailsOver(t *testing.T) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			srv := s.start(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			keys := []string{"cam-1", "cam-2", "cam-3", "cam-4"}
			tl := &timeline{active: map[string]int{}}
			a := connect(t, srv.url, "worker a")
			runKeeper(ctx, t, a, "a", keys, tl)
			runKeeper(ctx, t, connect(t, srv.url, "worker b"), "b", keys, tl)
			waitFor(t, 15*time.Second, "two cameras on each worker", func() bool {
				h := tl.holding()
				return h["a"] == 2 && h["b"] == 2
			})

			a.NC.Close() // worker a loses NATS but keeps running
			cut := time.Now()
			waitFor(t, 10*time.Second, "all four cameras on worker b", func() bool {
				h := tl.holding()
				return h["a"] == 0 && h["b"] == 4
			})
			t.Logf("failover took %v", time.Since(cut).Round(100*time.Millisecond))

			runKeeper(ctx, t, connect(t, srv.url, "worker c"), "c", keys, tl)
			waitFor(t, 15*time.Second, "two cameras on the new worker c", func() bool {
				h := tl.holding()
				return h["b"] == 2 && h["c"] == 2
			})
			if bad := tl.overlaps(); len(bad) > 0 {
				t.Fatalf("a camera ran on two workers: %v", bad)
			}
		})
	}
}

// soloLeases is a lease bucket with ttl on an embedded server, for one
// keeper named holder, and a context that ends with the test.
func soloLeases(t *testing.T, holder string, ttl time.Duration) (context.Context, *Leases) {
	t.Helper()
	srv := startEmbedded(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	leases, err := connect(t, srv.url, holder).Leases(ctx, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, leases
}

// A keeper whose round stalls (here listing the keys blocks for longer
// than the TTL, as a slow server would) cannot renew its leases; Holds
// turns false within 60 % of the TTL of their last renewal, before the
// server can expire them, so the work they guard can stop itself in time.
// When the round resumes, the fenced leases are given back (not renewed
// with nothing running under them) and taken again: the work starts anew.
func TestKeeperHoldsIsAFence(t *testing.T) {
	const ttl = 2 * time.Second
	ctx, leases := soloLeases(t, "fenced worker", ttl)
	var mu sync.Mutex
	var hang chan struct{} // when set, listing the keys blocks on it
	var calls []string     // Start and Stop calls for cam-2
	k := &Keeper{
		Leases: leases, Holder: "a", Max: 2,
		Keys: func(context.Context) ([]string, error) {
			mu.Lock()
			h := hang
			mu.Unlock()
			if h != nil {
				<-h
			}
			return []string{"cam-1", "cam-2"}, nil
		},
		Start: func(key string) {
			mu.Lock()
			defer mu.Unlock()
			if key == "cam-2" {
				calls = append(calls, "start")
			}
		},
		Stop: func(key string, why error) {
			mu.Lock()
			defer mu.Unlock()
			if key == "cam-2" {
				calls = append(calls, "stop: "+why.Error())
			}
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	go k.Run(ctx)
	waitFor(t, 10*time.Second, "both leases held", func() bool { return k.Holds("cam-1") && k.Holds("cam-2") })
	release := make(chan struct{})
	mu.Lock()
	hang = release
	mu.Unlock()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if hang != nil {
			close(hang)
			hang = nil
		}
	}()
	stalled := time.Now()
	waitFor(t, ttl, "Holds(cam-2) false while the rounds stall", func() bool { return !k.Holds("cam-2") })
	if d := time.Since(stalled); d >= ttl {
		t.Fatalf("the fence fell %v after the stall; the lease could have expired (TTL %v)", d, ttl)
	}
	if h, err := leases.Holder(ctx, "cam-2"); err != nil || h != "a" {
		t.Fatalf("when the fence fell, the lease was held by %q (%v); it must still be a's", h, err)
	}

	mu.Lock()
	close(hang)
	hang = nil
	mu.Unlock()
	waitFor(t, 5*ttl, "cam-2 given back and taken again after the stall", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) >= 3 && k.Holds("cam-2")
	})
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"start", "stop: " + ErrFenced.Error(), "start"}; !slices.Equal(calls[:3], want) {
		t.Fatalf("cam-2's calls %q; want %q", calls, want)
	}
}

// A Stop that takes longer than the fence (a camera that is slow to end
// when it is given back) does not stall the renewal of the keeper's other
// leases: they stay held, and their work is never stopped.
func TestKeeperSlowStopKeepsOthers(t *testing.T) {
	const ttl = 2 * time.Second
	ctx, leases := soloLeases(t, "slow-stop worker", ttl)
	var mu sync.Mutex
	keys := []string{"cam-1", "cam-2"}
	starts := map[string]int{}
	var stops []string
	k := &Keeper{
		Leases: leases, Holder: "a", Max: 2,
		Keys: func(context.Context) ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), keys...), nil
		},
		Start: func(key string) {
			mu.Lock()
			defer mu.Unlock()
			starts[key]++
		},
		Stop: func(key string, why error) {
			if key == "cam-1" {
				time.Sleep(2 * ttl) // longer than the fence and the TTL
			}
			mu.Lock()
			defer mu.Unlock()
			stops = append(stops, key+": "+why.Error())
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	go k.Run(ctx)
	waitFor(t, 10*time.Second, "both leases held", func() bool { return k.Holds("cam-1") && k.Holds("cam-2") })
	mu.Lock()
	keys = []string{"cam-2"} // cam-1's job ended: its slow Stop runs next round
	mu.Unlock()
	until := time.Now().Add(3 * ttl)
	for time.Now().Before(until) {
		if !k.Holds("cam-2") {
			t.Fatal("cam-2 was fenced while cam-1 was slow to stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"cam-1: " + ErrGone.Error()}; !slices.Equal(stops, want) || starts["cam-2"] != 1 {
		t.Fatalf("stops %q, cam-2 started %d times; want %q and once", stops, starts["cam-2"], want)
	}
}
