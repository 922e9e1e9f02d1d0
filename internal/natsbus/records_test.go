package natsbus

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Job records survive a server restart; a stale update is refused; deleted
// records are gone from All.
func TestRecords(t *testing.T) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			srv := s.start(t)
			ctx := context.Background()
			r, err := connect(t, srv.url, "serve").Records(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rev, err := r.Update(ctx, "job-1", []byte(`{"state":"queued"}`), 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Update(ctx, "job-1", []byte(`{"state":"queued"}`), 0); !errors.Is(err, ErrConflict) {
				t.Fatalf("second create: %v, want ErrConflict", err)
			}
			rev2, err := r.Update(ctx, "job-1", []byte(`{"state":"running"}`), rev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Update(ctx, "job-1", []byte(`{"state":"done"}`), rev); !errors.Is(err, ErrConflict) {
				t.Fatalf("stale update: %v, want ErrConflict", err)
			}
			if _, err := r.Put(ctx, "job-2", []byte(`{"state":"queued"}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Put(ctx, "job-3", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			if err := r.Delete(ctx, "job-3"); err != nil {
				t.Fatal(err)
			}
			srv.restart(t, time.Second)
			var all map[string][]byte
			waitFor(t, 15*time.Second, "records readable after the restart", func() bool {
				all, err = r.All(ctx)
				return err == nil
			})
			if len(all) != 2 || string(all["job-1"]) != `{"state":"running"}` || string(all["job-2"]) != `{"state":"queued"}` {
				t.Fatalf("after restart: %q", all)
			}
			if _, rev3, ok, err := r.Get(ctx, "job-1"); err != nil || !ok || rev3 != rev2 {
				t.Fatalf("get job-1: rev %d ok %v err %v, want rev %d", rev3, ok, err, rev2)
			}
		})
	}
}
