package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"samtrack/internal/natsbus"
)

// KV is the job store on NATS JetStream's key-value bucket (natsbus.Records):
// the one source of truth for job state, whether the NATS server is the one
// `samtrack serve` embeds or an external cluster that workers share. A
// write returns once JetStream has stored it. Close it.
type KV[T any] struct {
	recs    *natsbus.Records
	closers []func() error
}

// opTimeout bounds one store operation (a stopped NATS server is retried by
// the client meanwhile).
const opTimeout = 15 * time.Second

// OpenKV opens the job bucket on conn; close runs at Close, after the
// store is done with conn (closing the connection, the embedded server).
func OpenKV[T any](conn *natsbus.Conn, close ...func() error) (*KV[T], error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	recs, err := conn.Records(ctx)
	if err != nil {
		return nil, err
	}
	return &KV[T]{recs: recs, closers: close}, nil
}

// Put writes rec under id, replacing what was there.
func (s *KV[T]) Put(id string, rec *T) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode job %s: %w", id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := s.recs.Put(ctx, id, b); err != nil {
		return fmt.Errorf("save job %s: %w", id, err)
	}
	return nil
}

// Delete removes the record under id.
func (s *KV[T]) Delete(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := s.recs.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	return nil
}

// All returns every record in id (creation) order. A record that does not
// decode is reported in bad and skipped.
func (s *KV[T]) All() (recs []*T, bad []error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	all, err := s.recs.All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read job bucket: %w", err)
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r := new(T)
		if err := json.Unmarshal(all[id], r); err != nil {
			bad = append(bad, fmt.Errorf("job %s: %w", id, err))
			continue
		}
		recs = append(recs, r)
	}
	return recs, bad, nil
}

// Close runs the closers given to OpenKV, last first.
func (s *KV[T]) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// MigrateBolt moves the records of an earlier server's bbolt database at
// path (if there is one) into dst as they are, undecodable ones included
// (the server reports those when it loads them, as before), then renames
// the file to path.migrated so it is read once. It returns how many
// records moved.
func MigrateBolt[T any](path string, dst *KV[T]) (int, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	old, err := Open[T](path)
	if err != nil {
		return 0, err
	}
	raw, err := old.raw()
	old.Close()
	if err != nil {
		return 0, fmt.Errorf("migrate %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	for id, v := range raw {
		if _, err := dst.recs.Put(ctx, id, v); err != nil {
			return 0, fmt.Errorf("migrate %s: save job %s: %w", path, id, err)
		}
	}
	if err := os.Rename(path, path+".migrated"); err != nil {
		return 0, fmt.Errorf("migrate %s: %w", path, err)
	}
	return len(raw), nil
}

// LockDir takes an exclusive lock on dir (a lock file in it), so that a
// second server cannot use the same data directory; unlock releases it.
func LockDir(dir string) (unlock func() error, err error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is locked by another process: another `samtrack serve` uses this --data directory; stop it or choose another directory", dir)
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	return f.Close, nil
}

// ErrNotFound is returned by Modify when there is no record.
var ErrNotFound = errors.New("no such job")

func (s *KV[T]) get(id string) (*T, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	b, rev, ok, err := s.recs.Get(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	r := new(T)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, 0, fmt.Errorf("job %s: %w", id, err)
	}
	return r, rev, nil
}

// Modify reads the record under id, lets change edit it and writes it back
// only if nobody wrote it in between (else it reads it again and retries):
// a read-modify-write that workers and serve can race on. An error from
// change is returned as it is, with nothing written.
func (s *KV[T]) Modify(id string, change func(*T) error) (*T, error) {
	for {
		r, rev, err := s.get(id)
		if err != nil {
			return nil, err
		}
		if err := change(r); err != nil {
			return r, err
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode job %s: %w", id, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_, err = s.recs.Update(ctx, id, b, rev)
		cancel()
		if errors.Is(err, natsbus.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("save job %s: %w", id, err)
		}
		return r, nil
	}
}

// Watch calls fn with every record written after the call (nil when it was
// deleted; a record that does not decode is skipped), from its own
// goroutine, until ctx ends.
func (s *KV[T]) Watch(ctx context.Context, fn func(id string, rec *T)) error {
	return s.recs.Watch(ctx, func(id string, b []byte) {
		if b == nil {
			fn(id, nil)
			return
		}
		r := new(T)
		if err := json.Unmarshal(b, r); err == nil {
			fn(id, r)
		}
	})
}
