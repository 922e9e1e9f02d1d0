package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaseBucket is the key-value bucket of leases: one key a live camera job,
// whose value names the worker that holds it. The bucket's TTL expires a key
// whose holder stopped renewing, and every write is a compare-and-set on the
// key's revision, so two workers can never both believe they hold one key.
const LeaseBucket = "samtrack_leases"

// WorkerBucket holds one key a live worker, rewritten every round by its
// Keeper and expiring a TTL after the worker stops: how many workers share
// the leases.
const WorkerBucket = "samtrack_workers"

// ErrHeld is returned by Acquire when another holder has the lease.
var ErrHeld = errors.New("natsbus: lease is held by another worker")

// ErrLost is returned by Renew and Release when the lease expired and was
// taken by someone else (or deleted) since this holder last wrote it.
var ErrLost = errors.New("natsbus: lease lost")

// Leases is the lease bucket.
type Leases struct {
	kv      jetstream.KeyValue
	workers jetstream.KeyValue
	ttl     time.Duration
}

// Leases creates (or opens) the lease bucket with the given TTL. A holder
// must renew well within the TTL (a third of it is usual); another worker
// can take a key at the latest TTL after its holder's last renewal.
func (c *Conn) Leases(ctx context.Context, ttl time.Duration) (*Leases, error) {
	if ttl < time.Second {
		return nil, fmt.Errorf("natsbus: lease TTL %v is too short (at least 1 s)", ttl)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	kv, err := c.bucket(ctx, LeaseBucket, ttl)
	if err != nil {
		return nil, err
	}
	workers, err := c.bucket(ctx, WorkerBucket, ttl)
	if err != nil {
		return nil, err
	}
	return &Leases{kv: kv, workers: workers, ttl: ttl}, nil
}

// TTL is the bucket's lease time.
func (l *Leases) TTL() time.Duration { return l.ttl }

// Lease is one held lease.
type Lease struct {
	kv     jetstream.KeyValue
	Key    string
	Holder string
	rev    uint64
}

// Acquire takes the lease on key for holder if nobody holds it (never held,
// released, or expired). It returns ErrHeld when someone does.
func (l *Leases) Acquire(ctx context.Context, key, holder string) (*Lease, error) {
	rev, err := l.kv.Create(ctx, key, []byte(holder))
	if isRevisionMismatch(err) {
		return nil, ErrHeld
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: acquire lease %s: %w", key, err)
	}
	return &Lease{kv: l.kv, Key: key, Holder: holder, rev: rev}, nil
}

// Present records that holder is alive and sharing the leases, for a TTL.
func (l *Leases) Present(ctx context.Context, holder string) error {
	if _, err := l.workers.Put(ctx, holder, nil); err != nil {
		return fmt.Errorf("natsbus: record worker %s: %w", holder, err)
	}
	return nil
}

// Workers counts the workers that recorded themselves within the last TTL.
func (l *Leases) Workers(ctx context.Context) (int, error) {
	lister, err := l.workers.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("natsbus: list workers: %w", err)
	}
	n := 0
	for range lister.Keys() {
		n++
	}
	return n, nil
}

// Holder says who holds key now ("" when nobody does).
func (l *Leases) Holder(ctx context.Context, key string) (string, error) {
	e, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("natsbus: read lease %s: %w", key, err)
	}
	return string(e.Value()), nil
}

// Renew extends the lease by another TTL. ErrLost means the lease expired and
// this holder must stop the work it guards.
func (le *Lease) Renew(ctx context.Context) error {
	rev, err := le.kv.Update(ctx, le.Key, []byte(le.Holder), le.rev)
	if err != nil {
		if isRevisionMismatch(err) {
			return ErrLost
		}
		return fmt.Errorf("natsbus: renew lease %s: %w", le.Key, err)
	}
	le.rev = rev
	return nil
}

// Release gives the lease up, if this holder still has it.
func (le *Lease) Release(ctx context.Context) error {
	err := le.kv.Delete(ctx, le.Key, jetstream.LastRevision(le.rev))
	if err != nil {
		if isRevisionMismatch(err) {
			return ErrLost
		}
		return fmt.Errorf("natsbus: release lease %s: %w", le.Key, err)
	}
	return nil
}

func isRevisionMismatch(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return true
	}
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}
