package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// store keeps job records in a bbolt database (one JSON value per job,
// keyed by id, ids sorting by creation time). Every write is a committed,
// fsynced transaction, so a crash loses nothing written before it.
type store struct {
	db *bolt.DB
}

var jobsBucket = []byte("jobs")

// openStore opens (creating) the database at path. A second server on the
// same data directory fails here instead of corrupting it.
func openStore(path string) (*store, error) {
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
	return &store{db: db}, nil
}

func (s *store) put(rec *jobRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode job %s: %w", rec.ID, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).Put([]byte(rec.ID), b)
	})
	if err != nil {
		return fmt.Errorf("save job %s: %w", rec.ID, err)
	}
	return nil
}

func (s *store) delete(id string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	return nil
}

// all returns every record in creation order. A record that does not
// decode is reported in bad and skipped.
func (s *store) all() (recs []*jobRecord, bad []error, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).ForEach(func(k, v []byte) error {
			var r jobRecord
			if err := json.Unmarshal(v, &r); err != nil {
				bad = append(bad, fmt.Errorf("job %s: %w", k, err))
				return nil
			}
			recs = append(recs, &r)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read job database: %w", err)
	}
	return recs, bad, nil
}

func (s *store) close() error { return s.db.Close() }
