package service

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samtrack/internal/natsbus"
	"samtrack/internal/natstest"
)

// A second server on a data directory in use is refused, naming the fix.
func TestSecondServerOnDataDirRefused(t *testing.T) {
	data := t.TempDir()
	a, err := New(Options{DataDir: data, Logger: quietLogger(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if b, err := New(Options{DataDir: data, Logger: quietLogger(), Environ: []string{}}); err == nil {
		b.Close()
		t.Fatal("a second server opened a data directory in use")
	} else if !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), "--data") {
		t.Fatalf("second server: %v", err)
	}
}

// With --nats, job state lives in the external server's JetStream bucket
// (no embedded server is started), and a job runs as with the embedded one.
func TestJobStateInExternalNATS(t *testing.T) {
	needVideos(t)
	url := natstest.Start(t).URL
	ts := startServer(t, Options{NATS: natsbus.ClientOptions{URL: url}})
	id := ts.createJob(pointJob(abs(t, catMP4), 300, 170, map[string]any{"video.max_frames": 3, "track.overlay": false}))
	v := ts.waitJob(id, 60*time.Second, "finish", finished)
	if v.State != StateDone {
		t.Fatalf("job ended %s: %s", v.State, v.Error)
	}
	if _, err := os.Stat(filepath.Join(ts.data, "nats")); !os.IsNotExist(err) {
		t.Errorf("an embedded NATS store was created beside --nats (%v)", err)
	}
	conn, err := natsbus.Connect(natsbus.ClientOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	recs, err := conn.Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _, ok, err := recs.Get(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("job %s is not in the external bucket (ok %v, err %v)", id, ok, err)
	}
	var rec jobRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.State != StateDone || rec.FramesDone != 3 {
		t.Fatalf("external record: state %s, frames %d (err %v)", rec.State, rec.FramesDone, err)
	}
}

// The external NATS server stopped for 10 s one frame into a job and started
// again: the job runs on meanwhile, and the state it wrote while NATS was
// down reaches JetStream once it is back (the client buffers and retries
// within the store's timeout), so the record says done with every frame.
func TestNATSOutageLosesNoJob(t *testing.T) {
	needVideos(t)
	nats := natstest.Start(t)
	ts := startServer(t, Options{NATS: natsbus.ClientOptions{URL: nats.URL}})
	id := ts.createJob(pointJob(abs(t, catMP4), 300, 170, map[string]any{"video.max_frames": 60, "track.overlay": false}))
	before := ts.waitJob(id, 60*time.Second, "start", func(v JobView) bool { return v.FramesDone > 0 || v.State.final() })
	nats.Restart(t, 10*time.Second)
	v := ts.waitJob(id, 120*time.Second, "finish", finished)
	t.Logf("NATS stopped at frame %d of 60 (state %s) for 10 s", before.FramesDone, before.State)
	if v.State != StateDone || v.FramesDone != 60 {
		t.Fatalf("job after the outage: %s, %d frames, %q", v.State, v.FramesDone, v.Error)
	}
	conn, err := natsbus.Connect(natsbus.ClientOptions{URL: nats.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	recs, err := conn.Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var rec jobRecord
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _, ok, err := recs.Get(context.Background(), id)
		if err == nil && ok && json.Unmarshal(b, &rec) == nil && rec.State == StateDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the record in NATS never said done: state %s, frames %d (ok %v, err %v)", rec.State, rec.FramesDone, ok, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rec.FramesDone != 60 {
		t.Fatalf("record in NATS: %d frames done, want 60", rec.FramesDone)
	}
}
