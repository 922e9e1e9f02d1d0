package natsbus

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"
)

// Keeper holds a worker's share of a set of leases (one a live camera): it
// takes free ones up to Max, renews those it holds, and stops the work of any
// it can no longer prove it holds. Workers share the keys evenly: each round
// a keeper records itself as present, takes free leases while it holds less
// than its share (the keys divided by the workers present, rounded up; a dead
// worker's keys move in one round once its leases and its presence expired),
// and gives one back while it holds more, so a worker that joins gets its
// share within a few rounds.
//
// Safety: a holder that cannot renew (lost connection, slow server) stops its
// work once 60 % of the TTL has passed since it sent its last successful
// renewal (renewals every quarter of the TTL, all keys at once, each bounded
// to a sixth), so it stops before the server can expire the key and let
// another worker take it: no key is ever worked on twice. The work checks
// Holds itself too (a fence), so that a round that stalls cannot outlast
// the lease. When the rounds resume, a key the fence stopped (Holds said
// false for it) is given back (ErrFenced), not renewed: a lease never stays
// held with its work stopped. While one key's Stop runs (it may take a few
// seconds to end a camera), the others are still renewed, so that one slow
// stop does not fence them all. Stop must return, with the work stopped.
type Keeper struct {
	Leases *Leases
	Holder string
	// Max is the most leases this worker holds (--max-live).
	Max int
	// Keys lists the keys that should be held by someone (the live jobs).
	Keys func(ctx context.Context) ([]string, error)
	// Start begins the work a lease guards; Stop ends it (also when the
	// keeper itself stops). Both are called from the keeper's goroutine.
	Start func(key string)
	Stop  func(key string, why error)
	Log   *slog.Logger

	mu sync.Mutex
	// sent is when the last successful renewal (or the acquisition) of
	// each held key was sent: Holds reads it from the work's goroutines.
	sent map[string]time.Time
	// denied lists the held keys for which Holds has answered false: their
	// work stopped on that answer, so they are given back, never renewed.
	denied map[string]bool
}

// Holds reports whether this keeper can still prove it holds key: its last
// successful renewal was sent less than half the TTL ago. Work guarded by a
// lease checks it on its own (a fence): if the keeper's rounds stall (a slow
// server, a blocked Stop), the work stops itself before the lease can expire
// and pass to another worker.
func (k *Keeper) Holds(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.sent[key]
	if ok && time.Since(t) < fenceAfter(k.Leases.TTL()) && !k.denied[key] {
		return true
	}
	if ok {
		if k.denied == nil {
			k.denied = map[string]bool{}
		}
		k.denied[key] = true
	}
	return false
}

// fenced reports whether key's work has been, or is being, stopped by the
// fence: Holds said false for it, or its renewals stalled past the fence.
func (k *Keeper) fenced(key string, h *held) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.denied[key] || time.Since(h.renewed) >= fenceAfter(k.Leases.TTL())
}

// fenceAfter is how long after its last successful renewal a lease's work
// stops: the rest of the TTL is the margin for stopping it.
func fenceAfter(ttl time.Duration) time.Duration { return ttl * 3 / 5 }

func (k *Keeper) mark(key string, sent time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sent == nil {
		k.sent = map[string]time.Time{}
	}
	switch {
	case sent.IsZero():
		delete(k.sent, key)
		delete(k.denied, key)
	case !k.denied[key]:
		k.sent[key] = sent
	}
}

type held struct {
	lease   *Lease
	renewed time.Time
}

// Run keeps leases until ctx ends, then releases every lease it holds so
// another worker can take it at once.
func (k *Keeper) Run(ctx context.Context) error {
	if k.Max < 0 || k.Leases == nil || k.Keys == nil || k.Start == nil || k.Stop == nil {
		return errors.New("natsbus: Keeper needs Leases, Keys, Start, Stop and Max >= 0")
	}
	log := k.Log
	if log == nil {
		log = slog.Default()
	}
	mine := map[string]*held{}
	round := k.Leases.TTL() / 4
	t := time.NewTimer(jitter(round))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			k.releaseAll(mine, log)
			return nil
		case <-t.C:
		}
		k.renew(ctx, mine, log)
		k.balance(ctx, mine, log)
		t.Reset(jitter(round))
	}
}

// jitter spreads rounds of different workers apart (0.8 to 1.0 of d).
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

func (k *Keeper) renew(ctx context.Context, mine map[string]*held, log *slog.Logger) {
	ttl := k.Leases.TTL()
	// A key the fence has stopped (Holds said false, or its renewals
	// stalled past the fence while the rounds did: a slow server, a slow
	// call) has no work running under it. Renewing it would hold the lease
	// idle, and no other worker could take it: give it back instead, so
	// that it runs again at the next acquisition, here or elsewhere.
	fenced := map[string]*held{}
	for key, h := range mine {
		if k.fenced(key, h) {
			fenced[key] = h
			delete(mine, key) // before any give-back renews the others
		}
	}
	for key, h := range fenced {
		log.Warn("lease renewals stalled past the fence; giving the lease back", "key", key, "holder", k.Holder, "since", time.Since(h.renewed))
		k.giveBack(ctx, key, h, ErrFenced, mine, log)
	}
	type result struct {
		key  string
		sent time.Time
		err  error
	}
	n := len(mine)
	results := make(chan result, n)
	for key, h := range mine {
		go func() {
			sent, err := k.renewOne(ctx, h)
			results <- result{key, sent, err}
		}()
	}
	for range n {
		r := <-results
		h := mine[r.key]
		if r.err == nil {
			h.renewed = r.sent
			k.mark(r.key, r.sent)
			continue
		}
		if errors.Is(r.err, ErrLost) || time.Since(h.renewed) > fenceAfter(ttl) {
			log.Warn("lease lost; stopping its work", "key", r.key, "holder", k.Holder, "err", r.err)
			delete(mine, r.key)
			k.mark(r.key, time.Time{})
			k.Stop(r.key, r.err)
			continue
		}
		log.Warn("lease renewal failed; retrying", "key", r.key, "err", r.err)
	}
}

// balance takes one free key while this worker holds less than its share,
// and gives one back while it holds more.
func (k *Keeper) balance(ctx context.Context, mine map[string]*held, log *slog.Logger) {
	if err := k.Leases.Present(ctx, k.Holder); err != nil {
		log.Warn("record presence", "err", err)
		return
	}
	keys, err := k.Keys(ctx)
	if err != nil {
		log.Warn("list leased keys", "err", err)
		return
	}
	k.dropGone(ctx, keys, mine, log)
	workers, err := k.Leases.Workers(ctx)
	if err != nil || workers < 1 {
		log.Warn("count workers", "err", err)
		return
	}
	share := min(k.Max, (len(keys)+workers-1)/workers)
	switch {
	case len(mine) > share:
		k.giveBackOne(ctx, mine, log)
	default:
		// every free key up to the share at once: a dead worker's cameras
		// move in one round, not one a round
		for len(mine) < share && k.acquireOne(ctx, keys, mine, log) {
		}
	}
}

// dropGone stops and releases held keys that are no longer listed (a live
// job that was stopped or removed).
func (k *Keeper) dropGone(ctx context.Context, keys []string, mine map[string]*held, log *slog.Logger) {
	listed := make(map[string]bool, len(keys))
	for _, key := range keys {
		listed[key] = true
	}
	for key, h := range mine {
		if listed[key] {
			continue
		}
		delete(mine, key)
		k.giveBack(ctx, key, h, ErrGone, mine, log)
	}
}

// ErrGone is why Stop is called for a key no longer listed.
var ErrGone = errors.New("natsbus: the leased job is gone")

func (k *Keeper) giveBackOne(ctx context.Context, mine map[string]*held, log *slog.Logger) {
	for key, h := range mine {
		delete(mine, key)
		k.giveBack(ctx, key, h, ErrRebalanced, mine, log)
		return
	}
}

// ErrFenced is why Stop is called for a key whose renewals stalled past
// the fence (Holds turned false, so its work has stopped or is stopping).
var ErrFenced = errors.New("natsbus: lease renewals stalled past the fence; the lease is given back")

// ErrRebalanced is why Stop is called when a lease is given back to another worker.
var ErrRebalanced = errors.New("natsbus: lease given back to even out the workers' shares")

// acquireOne takes one free key; false when it took none.
func (k *Keeper) acquireOne(ctx context.Context, keys []string, mine map[string]*held, log *slog.Logger) bool {
	keys = slices.Clone(keys) // the caller's list stays as it was
	sort.Strings(keys)
	rand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, key := range keys {
		if mine[key] != nil {
			continue
		}
		sent := time.Now()
		cctx, cancel := context.WithTimeout(ctx, k.Leases.TTL()/6)
		l, err := k.Leases.Acquire(cctx, key, k.Holder)
		cancel()
		if errors.Is(err, ErrHeld) {
			continue
		}
		if err != nil {
			log.Warn("acquire lease", "key", key, "err", err)
			return false
		}
		mine[key] = &held{lease: l, renewed: sent}
		k.mark(key, sent)
		k.Start(key)
		return true
	}
	return false
}

// giveBack stops the work key guards, then releases its lease so another
// worker can take it at once. While Stop runs (a camera can take seconds to
// end), the other leases in mine (key already removed) are still renewed
// every round, so that one slow stop does not stall them past the fence.
func (k *Keeper) giveBack(ctx context.Context, key string, h *held, why error, mine map[string]*held, log *slog.Logger) {
	k.stopRenewing(ctx, key, why, mine)
	k.mark(key, time.Time{})
	if err := h.lease.Release(ctx); err != nil {
		log.Warn("release lease", "key", key, "err", err)
	}
}

func (k *Keeper) releaseAll(mine map[string]*held, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for key, h := range mine {
		k.Stop(key, context.Canceled) // Stop stays on this goroutine
		k.mark(key, time.Time{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.lease.Release(ctx); err != nil {
				log.Warn("release lease", "key", key, "err", err)
			}
		}()
	}
	wg.Wait()
}

// renewOne renews h's lease, bounded to a sixth of the TTL, and returns
// when the renewal was sent.
func (k *Keeper) renewOne(ctx context.Context, h *held) (sent time.Time, err error) {
	sent = time.Now()
	cctx, cancel := context.WithTimeout(ctx, k.Leases.TTL()/6)
	defer cancel()
	return sent, h.lease.Renew(cctx)
}

// stopRenewing calls Stop(key, why) and, until it returns, renews the
// leases in others every round on another goroutine. That goroutine only
// renews (a failed renewal is left to the next round's renew, which stops
// the work); the caller touches none of others until it has ended.
func (k *Keeper) stopRenewing(ctx context.Context, key string, why error, others map[string]*held) {
	snapshot := maps.Clone(others)
	ttl := k.Leases.TTL()
	stop := tick(ttl/4, func() {
		for k2, h := range snapshot {
			if k.fenced(k2, h) {
				continue // renew gives it back
			}
			if sent, err := k.renewOne(ctx, h); err == nil {
				h.renewed = sent
				k.mark(k2, sent)
			}
		}
	})
	k.Stop(key, why)
	stop()
}
