// Package jobstore keeps samtrack serve's job records: one JSON value per
// job, keyed by its id (ids sort by creation time). KV keeps them in NATS
// JetStream's key-value bucket, the one source of truth for job state
// (a write returns once JetStream stored it); LockDir keeps a second server
// off a data directory; Bolt, the bbolt database earlier versions used, is
// read once by MigrateBolt to move its jobs into NATS. The store is generic
// over the record type, so it knows nothing of jobs themselves; the service
// reaches it through a small interface.
package jobstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bolt is a bbolt-backed store of records of type T. Close it.
type Bolt[T any] struct {
	db *bolt.DB
}

var jobsBucket = []byte("jobs")

// Open opens (creating) the database at path. A second server on the same
// data directory fails here instead of corrupting it.
func Open[T any](path string) (*Bolt[T], error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("job database %s is locked by another process: another `samtrack serve` uses this --data directory; stop it or choose another directory", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open job database %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(jobsBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise job database %s: %w", path, err)
	}
	return &Bolt[T]{db: db}, nil
}

// Put writes rec under id, replacing what was there.
func (s *Bolt[T]) Put(id string, rec *T) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode job %s: %w", id, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).Put([]byte(id), b)
	})
	if err != nil {
		return fmt.Errorf("save job %s: %w", id, err)
	}
	return nil
}

// Delete removes the record under id.
func (s *Bolt[T]) Delete(id string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	return nil
}

// All returns every record in id (creation) order. A record that does not
// decode is reported in bad and skipped.
func (s *Bolt[T]) All() (recs []*T, bad []error, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).ForEach(func(k, v []byte) error {
			r := new(T)
			if err := json.Unmarshal(v, r); err != nil {
				bad = append(bad, fmt.Errorf("job %s: %w", k, err))
				return nil
			}
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read job database: %w", err)
	}
	return recs, bad, nil
}

// raw returns every stored value by id, undecoded.
func (s *Bolt[T]) raw() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read job database: %w", err)
	}
	return out, nil
}

// Close closes the database file.
func (s *Bolt[T]) Close() error { return s.db.Close() }
