package jobstore

import (
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"samtrack/internal/natsbus"
)

// An earlier server's bbolt database moves into the NATS bucket as it is:
// the records in creation order, and a record that does not decode still
// reported as bad (not a failed start); the file is set aside.
func TestMigrateBoltIntoKV(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jobs.db")
	old, err := Open[rec](path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*rec{{ID: "002", N: 2}, {ID: "001", N: 1}} {
		if err := old.Put(r.ID, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(jobsBucket).Put([]byte("003"), []byte("{not json")) }); err != nil {
		t.Fatal(err)
	}
	old.Close()

	emb, err := natsbus.StartEmbedded(natsbus.EmbeddedOptions{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := natsbus.Connect(natsbus.ClientOptions{URL: emb.URL()})
	if err != nil {
		emb.Close()
		t.Fatal(err)
	}
	kv, err := OpenKV[rec](conn, emb.Close, conn.Close)
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	n, err := MigrateBolt(path, kv)
	if err != nil || n != 3 {
		t.Fatalf("migrated %d records (err %v), want 3", n, err)
	}
	recs, bad, err := kv.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].ID != "001" || recs[1].ID != "002" || len(bad) != 1 {
		t.Fatalf("after the move: %d records %+v, %d bad", len(recs), recs, len(bad))
	}
	if _, err := os.Stat(path + ".migrated"); err != nil {
		t.Fatalf("old database not set aside: %v", err)
	}
	if n, err := MigrateBolt(path, kv); err != nil || n != 0 {
		t.Fatalf("second start moved %d records (err %v), want none", n, err)
	}
}
