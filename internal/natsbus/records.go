package natsbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// JobsBucket holds one record a job (its state, as the service stores it),
// replicated with the stream's storage: the one source of truth for job state
// whichever process runs the job.
const JobsBucket = "samtrack_jobs"

// Records is a bucket of opaque records keyed by id, written with
// compare-and-set so that two processes never overwrite each other's update
// unknowingly.
type Records struct {
	kv jetstream.KeyValue
}

// ErrConflict is returned by Update when the record changed since it was read.
var ErrConflict = errors.New("natsbus: record changed since it was read")

// Records creates (or opens) the job-state bucket.
func (c *Conn) Records(ctx context.Context) (*Records, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	kv, err := c.bucket(ctx, JobsBucket, 0)
	if err != nil {
		return nil, err
	}
	return &Records{kv: kv}, nil
}

// Put writes a record unconditionally and returns its new revision.
func (r *Records) Put(ctx context.Context, id string, rec []byte) (uint64, error) {
	rev, err := r.kv.Put(ctx, id, rec)
	if err != nil {
		return 0, fmt.Errorf("natsbus: write job %s: %w", id, err)
	}
	return rev, nil
}

// Update writes a record only if its revision is still rev (0: only if it
// does not exist); otherwise ErrConflict.
func (r *Records) Update(ctx context.Context, id string, rec []byte, rev uint64) (uint64, error) {
	var (
		n   uint64
		err error
	)
	if rev == 0 {
		n, err = r.kv.Create(ctx, id, rec)
	} else {
		n, err = r.kv.Update(ctx, id, rec, rev)
	}
	if isRevisionMismatch(err) {
		return 0, ErrConflict
	}
	if err != nil {
		return 0, fmt.Errorf("natsbus: update job %s: %w", id, err)
	}
	return n, nil
}

// Get reads a record and its revision; ok is false when there is none.
func (r *Records) Get(ctx context.Context, id string) (rec []byte, rev uint64, ok bool, err error) {
	e, err := r.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("natsbus: read job %s: %w", id, err)
	}
	return e.Value(), e.Revision(), true, nil
}

// Delete removes a record.
func (r *Records) Delete(ctx context.Context, id string) error {
	if err := r.kv.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("natsbus: delete job %s: %w", id, err)
	}
	return nil
}

// All reads every record, keyed by id.
func (r *Records) All(ctx context.Context) (map[string][]byte, error) {
	lister, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsbus: list jobs: %w", err)
	}
	out := map[string][]byte{}
	for id := range lister.Keys() {
		rec, _, ok, err := r.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out[id] = rec
		}
	}
	return out, nil
}
