package service

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"samtrack/internal/natsbus"
	"samtrack/internal/natstest"
	"samtrack/internal/rtsptest"
	"samtrack/internal/testenv"
	"samtrack/pipeline"
)

// leaseEvent is one write to the lease bucket, as a watcher saw it.
type leaseEvent struct {
	key, holder string
	deleted     bool
	at          time.Time
}

// leaseHistory records every write to the lease bucket from now on.
type leaseHistory struct {
	mu     sync.Mutex
	events []leaseEvent
}

func watchLeases(t *testing.T, url string, ttl time.Duration) *leaseHistory {
	t.Helper()
	conn, err := natsbus.Connect(natsbus.ClientOptions{URL: url, Name: "lease history"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := conn.Leases(ctx, ttl); err != nil { // the bucket, as the workers make it
		t.Fatal(err)
	}
	kv, err := conn.JS.KeyValue(ctx, natsbus.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IncludeHistory())
	if err != nil {
		t.Fatal(err)
	}
	h := &leaseHistory{}
	go func() {
		defer w.Stop()
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			h.mu.Lock()
			h.events = append(h.events, leaseEvent{key: e.Key(), holder: string(e.Value()), deleted: e.Operation() != jetstream.KeyValuePut, at: e.Created()})
			h.mu.Unlock()
		}
	}()
	return h
}

// since returns the writes from t on, in order.
func (h *leaseHistory) since(t time.Time) []leaseEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []leaseEvent
	for _, e := range h.events {
		if !e.at.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

// check fails the test if the history shows a key held by two workers at
// once: a new holder's first write must follow a release, or come a full
// TTL after the previous holder's last write (the lease expired).
func (h *leaseHistory) check(t *testing.T, ttl time.Duration) (handovers int) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	type state struct {
		holder string
		last   time.Time
	}
	cur := map[string]state{}
	for _, e := range h.events {
		s := cur[e.key]
		switch {
		case e.deleted:
			cur[e.key] = state{}
		case s.holder == "" || s.holder == e.holder:
			cur[e.key] = state{holder: e.holder, last: e.at}
		default:
			if gap := e.at.Sub(s.last); gap < ttl {
				t.Errorf("lease %s: %s took it %v after %s's last renewal, before the %v TTL ran out: two holders", e.key, e.holder, gap, s.holder, ttl)
			}
			handovers++
			cur[e.key] = state{holder: e.holder, last: e.at}
		}
	}
	return handovers
}

// TestClusterCamerasFailover: 4 RTSP cameras on 2 worker processes, leases
// spread 2 and 2 (the first worker up may take all 4 and give 2 back).
// After kill -9 of one worker its cameras run on the other within 10 s and
// track again once their streams deliver a key frame, with the same object
// ids (the new session starts from the last session's label map) and the
// handover recorded as a gap; the lease history shows no camera held by two
// workers at any time.
func TestClusterCamerasFailover(t *testing.T) {
	needVideos(t)
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		testenv.Missing(t, "the ffmpeg binary is needed to publish the test streams")
	}
	const ttl = 3 * time.Second
	rtsp := rtsptest.New(t)
	var urls []string
	for i := range 4 {
		path := fmt.Sprintf("cam%d", i+1)
		p, err := rtsptest.StartPublisher(context.Background(), abs(t, catMP4), rtsp.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Stop() })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = rtsp.WaitPublishing(ctx, path, true)
		cancel()
		if err != nil {
			t.Fatalf("%v (ffmpeg: %v)", err, p.Err())
		}
		urls = append(urls, rtsp.URL(path))
	}
	nats := natstest.Start(t)
	history := watchLeases(t, nats.URL, ttl)
	ts := clusterServer(t, nats.URL, Options{AllowNets: []string{"127.0.0.0/8"}, ClusterOptions: ClusterOptions{LeaseTTL: ttl}})
	workers := map[string]*workerProcess{}
	for _, name := range []string{"a", "b"} {
		workers[name] = startWorker(t, nats.URL, ts.data, name, "--max-jobs", "0", "--max-live", "4", "--lease-ttl", ttl.String(), "--allow-net", "127.0.0.0/8")
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, w := range workers {
				b, _ := os.ReadFile(w.log)
				t.Logf("worker %s's log:\n%s", w.name, b)
			}
		}
	})
	var ids []string
	for _, u := range urls {
		ids = append(ids, ts.createJob(map[string]any{
			"input": u, "prompts": onePoint(300, 170), "options": map[string]any{"track.overlay": false},
		}))
	}
	held := map[string][]string{}
	objects := map[string][]uint16{}
	takers := map[string]int{} // how many times each camera was taken before the kill
	deadline := time.Now().Add(90 * time.Second)
	for {
		clear(held)
		ready := 0
		for _, id := range ids {
			v := ts.job(id)
			if v.State.final() {
				t.Fatalf("camera %s ended %s: %s", id, v.State, v.Error)
			}
			if v.State == StateRunning && v.FramesDone >= 10 {
				ready++
				held[v.Worker] = append(held[v.Worker], id)
				objects[id] = objectIDs(v)
				takers[id] = len(v.Workers)
			}
		}
		if ready == 4 && len(held["a"]) == 2 && len(held["b"]) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 4 cameras did not run 2 and 2 on the workers within 90 s: %v", held)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for id, o := range objects {
		if !slices.Equal(o, []uint16{1}) {
			t.Fatalf("camera %s tracks objects %v before the kill; want [1]", id, o)
		}
	}

	workers["a"].kill(t)
	killed := time.Now()
	for _, id := range held["a"] {
		ts.waitJob(id, 30*time.Second, "running on worker b", func(v JobView) bool {
			return v.Worker == "b" && v.State == StateRunning
		})
		took := time.Since(killed)
		t.Logf("camera %s: running on b %v after the kill", id, took.Round(100*time.Millisecond))
		if took > 10*time.Second {
			t.Errorf("camera %s: running on the other worker %v after the kill; want within 10 s", id, took)
		}
	}
	for _, id := range held["a"] {
		v := ts.waitJob(id, 30*time.Second, "tracking on worker b", func(v JobView) bool {
			return v.Worker == "b" && v.FramesDone >= 1 && slices.ContainsFunc(v.Gaps, func(g pipeline.GapRecord) bool { return strings.Contains(g.Reason, "handover") })
		})
		took := time.Since(killed)
		t.Logf("camera %s: tracking on b %v after the kill (the RTSP connection waits for a key frame); objects %v; workers %v", id, took.Round(100*time.Millisecond), objectIDs(v), v.Workers)
		if took > 20*time.Second {
			t.Errorf("camera %s: tracking on the other worker %v after the kill; want within 20 s", id, took)
		}
		if got := objectIDs(v); !slices.Equal(got, objects[id]) {
			t.Errorf("camera %s: objects %v after the handover, %v before", id, got, objects[id])
		}
		if n := len(v.Workers); n != takers[id]+1 || v.Workers[n-2] != "a" {
			t.Errorf("camera %s: workers %v; want one more, b, after a", id, v.Workers)
		}
	}
	for _, id := range held["b"] {
		if v := ts.job(id); len(v.Workers) != takers[id] || v.State != StateRunning {
			t.Errorf("camera %s, on the surviving worker, moved or stopped: %s, workers %v", id, v.State, v.Workers)
		}
	}
	for _, e := range history.since(killed) {
		if e.holder == "b" && slices.Contains(held["a"], e.key) {
			t.Logf("lease %s taken by b %v after the kill", e.key, e.at.Sub(killed).Round(100*time.Millisecond))
			break
		}
	}
	time.Sleep(ttl) // a few more lease rounds in the history
	if n := history.check(t, ttl); n < len(held["a"]) {
		t.Errorf("the lease history shows %d handovers; %d cameras moved", n, len(held["a"]))
	}
}
