package jobstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

type rec struct {
	ID string `json:"id"`
	N  int    `json:"n"`
}

func TestBoltKeepsRecordsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open[rec](path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []rec{{"002", 2}, {"001", 1}, {"003", 3}} {
		if err := s.Put(r.ID, &r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete("003"); err != nil {
		t.Fatal(err)
	}
	// A record that no longer decodes is reported, not fatal.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(jobsBucket).Put([]byte("004"), []byte("{")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open[rec](path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, bad, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].N != 1 || recs[1].N != 2 || len(bad) != 1 || !strings.Contains(bad[0].Error(), "job 004") {
		t.Fatalf("All = %+v, bad %v; want records 001, 002 in order and one bad record 004", recs, bad)
	}
}

func TestBoltRefusesASecondOpener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open[rec](path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open[rec](path); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: err = %v, want the locked-database message", err)
	}
	if _, err := Open[rec](filepath.Join(t.TempDir(), "missing", "jobs.db")); err == nil || os.IsExist(err) {
		t.Fatalf("Open in a missing directory: err = %v, want an error", err)
	}
}
