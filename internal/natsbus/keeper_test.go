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

// A keeper whose round stalls (here its Stop blocks for longer than the TTL)
// cannot renew its other leases; Holds turns false for them within 60 % of
// the TTL of their last renewal, before the server can expire them, so the
// work they guard can stop itself in time.
func TestKeeperHoldsIsAFence(t *testing.T) {
	srv := startEmbedded(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := connect(t, srv.url, "fenced worker")
	const ttl = 2 * time.Second
	leases, err := c.Leases(ctx, ttl)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	keys := []string{"cam-1", "cam-2"}
	var cam2 []string // Start and Stop calls for cam-2
	release := make(chan struct{})
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
			if key == "cam-2" {
				cam2 = append(cam2, "start")
			}
		},
		Stop: func(key string, why error) {
			if key == "cam-1" {
				<-release // a stop that hangs: the keeper's rounds stall
			}
			mu.Lock()
			defer mu.Unlock()
			if key == "cam-2" {
				cam2 = append(cam2, "stop: "+why.Error())
			}
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	go k.Run(ctx)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	waitFor(t, 10*time.Second, "both leases held", func() bool { return k.Holds("cam-1") && k.Holds("cam-2") })
	mu.Lock()
	keys = []string{"cam-2"} // cam-1 is gone: its Stop hangs the next round
	mu.Unlock()
	stalled := time.Now()
	waitFor(t, ttl, "Holds(cam-2) false while the rounds stall", func() bool { return !k.Holds("cam-2") })
	if d := time.Since(stalled); d >= ttl {
		t.Fatalf("the fence fell %v after the stall; the lease could have expired (TTL %v)", d, ttl)
	}
	if h, err := leases.Holder(ctx, "cam-2"); err != nil || h != "a" {
		t.Fatalf("when the fence fell, the lease was held by %q (%v); it must still be a's", h, err)
	}

	// The stall ends. cam-2's work was fenced, so its lease must not be
	// renewed with nothing running under it: it is given back and taken
	// again, and the work starts anew.
	close(release)
	released = true
	waitFor(t, 5*ttl, "cam-2 given back and taken again after the stall", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(cam2) >= 3 && k.Holds("cam-2")
	})
	mu.Lock()
	defer mu.Unlock()
	want := []string{"start", "stop: " + ErrFenced.Error(), "start"}
	if !slices.Equal(cam2[:3], want) {
		t.Fatalf("cam-2's calls %q; want %q", cam2, want)
	}
}
