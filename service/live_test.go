package service

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"samtrack/internal/rtsptest"
	"samtrack/internal/testenv"
	"samtrack/pipeline"
)

// newLiveRig is the in-process RTSP server with an ffmpeg publisher
// looping cat.mp4 on path "cam".
func newLiveRig(t *testing.T) *rtsptest.Rig {
	t.Helper()
	needVideos(t)
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		testenv.Missing(t, "the ffmpeg binary is needed to publish the test stream")
	}
	return rtsptest.NewRig(t, catMP4, 15*time.Second)
}

// stableGoroutines returns the goroutine count once it has not changed for
// 300 ms (at most 3 s).
func stableGoroutines() int {
	n, since := runtime.NumGoroutine(), time.Now()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if m := runtime.NumGoroutine(); m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= 300*time.Millisecond {
			break
		}
	}
	return n
}

func rssKB(t testing.TB) int {
	runtime.GC()
	debug.FreeOSMemory()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

// TestLiveJob runs a live job on a real RTSP stream (an in-process RTSP
// server fed by ffmpeg -re -stream_loop -1 -i cat.mp4 -c copy -f rtsp):
// overlay frames and SSE events arrive; then five times the publisher stops
// for 5 s and comes back: each time the job reconnects within 10 s of the
// stream's return, keeps its object ids and reports the gap, and after the
// five reconnects neither the goroutine count nor RSS has grown.
func TestLiveJob(t *testing.T) {
	rig := newLiveRig(t)
	ts := startServer(t, Options{AllowNets: []string{"127.0.0.0/8"}}) // the test camera is on loopback
	id := ts.createJob(map[string]any{
		"input":   rig.URL,
		"prompts": onePoint(300, 170),
		"options": map[string]any{"track.overlay": false},
		"live":    map[string]any{"max_backoff": "2s"},
	})
	ev := ts.subscribe(id)
	ev.wait(t, "connected", 20*time.Second, nil)
	v := ts.waitJob(id, 30*time.Second, "30 live frames", func(v JobView) bool { return v.FramesDone >= 30 || finished(v) })
	if v.State != StateRunning || !v.Live {
		t.Fatalf("live job: %s, live %v, %q", v.State, v.Live, v.Error)
	}
	if code, b := ts.do("GET", "/api/v1/jobs/"+id+"/frame.jpg", nil); code != 200 || len(b) < 1000 {
		t.Fatalf("frame.jpg of the live job: %d", code)
	}
	parts := readMJPEG(t, ts.url+"/api/v1/jobs/"+id+"/live.mjpeg", 3)
	ev.wait(t, "appeared", time.Second, func(e sseEvent) bool { return e.Data["id"] == 1.0 })
	t.Logf("live: %d frames at %.1f fps; MJPEG frames %v; %d SSE events", v.FramesDone, v.FPS, parts, len(ev.snapshot()))
	ids := objectIDs(v)

	const cycles = 5
	var g0, rss0 int
	var delays []time.Duration
	for c := 1; c <= cycles; c++ {
		rig.Stop()
		ev.wait(t, "disconnected", 15*time.Second, func(sseEvent) bool { return ev.count("disconnected") >= c })
		time.Sleep(5 * time.Second)
		back := rig.Start()
		ev.wait(t, "reconnected", 15*time.Second, func(sseEvent) bool { return ev.count("reconnected") >= c })
		var e sseEvent
		n := 0
		for _, e2 := range ev.snapshot() {
			if e2.Name == "reconnected" {
				if n++; n == c {
					e = e2
				}
			}
		}
		d := e.At.Sub(back)
		delays = append(delays, d.Round(10*time.Millisecond))
		if d > 10*time.Second {
			t.Errorf("cycle %d: reconnected %v after the stream returned (over 10 s)", c, d)
		}
		gap, _ := e.Data["gap"].(map[string]any)
		if secs, _ := gap["seconds"].(float64); secs < 4.5 {
			t.Errorf("cycle %d: the reported gap lasts %.2f s; the stream was away 5 s or more: %v", c, secs, gap)
		}
		before := ts.job(id).FramesDone
		after := ts.waitJob(id, 15*time.Second, "tracking after the reconnect", func(v JobView) bool { return v.FramesDone >= before+15 || finished(v) })
		if after.State != StateRunning {
			t.Fatalf("cycle %d: the job %s: %q", c, after.State, after.Error)
		}
		if got := objectIDs(after); !equalIDs(got, ids) {
			t.Errorf("cycle %d: object ids %v, before the drops %v", c, got, ids)
		}
		if c == 1 {
			g0, rss0 = stableGoroutines(), rssKB(t)
		}
	}
	g1, rss1 := stableGoroutines(), rssKB(t)
	t.Logf("reconnect delays after the stream returned: %v; goroutines %d -> %d, RSS %d -> %d KB over %d more reconnects",
		delays, g0, g1, rss0, rss1, cycles-1)
	if g1 > g0+2 {
		t.Errorf("goroutines grew from %d to %d over %d reconnects", g0, g1, cycles-1)
	}
	if rss1-rss0 > 30*1024 {
		t.Errorf("RSS grew by %d KB over %d reconnects", rss1-rss0, cycles-1)
	}

	v = ts.job(id)
	if v.Reconnects != cycles || len(v.Gaps) != cycles {
		t.Errorf("job reports %d reconnects and %d gaps, want %d", v.Reconnects, len(v.Gaps), cycles)
	}
	for _, e := range ev.snapshot() {
		if e.Name == "appeared" && e.Data["id"] != 1.0 {
			t.Errorf("an object appeared with id %v", e.Data["id"])
		}
	}

	// A graceful shutdown ends the session (gaps.json gets its final
	// write); the next server restarts the live job in a new session.
	ts.stop()
	out := filepath.Join(ts.data, "jobs", id, "out")
	checkGaps(t, filepath.Join(out, pipeline.GapsFile), cycles)
	srv, err := New(Options{DataDir: ts.data, AllowNets: []string{"127.0.0.0/8"}, AllowDirs: []string{abs(t, videosDir)}, Logger: quietLogger(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	ts2 := serve(t, srv, Options{DataDir: ts.data})
	v = ts2.waitJob(id, 30*time.Second, "the live job restarts", func(v JobView) bool { return v.State == StateRunning && v.FramesDone >= 10 || finished(v) })
	if v.State != StateRunning || !equalIDs(objectIDs(v), ids) {
		t.Fatalf("after the restart the live job is %s with objects %v: %q", v.State, objectIDs(v), v.Error)
	}
	checkGaps(t, filepath.Join(ts.data, "jobs", id, "sessions", "1", pipeline.GapsFile), cycles)
	if code, b := ts2.do("POST", "/api/v1/jobs/"+id+"/cancel", nil); code != 200 {
		t.Fatalf("cancel: %d %s", code, b)
	}
	files := readZip(t, ts2, id)
	masks := 0
	for name := range files {
		if strings.HasPrefix(name, "masks/") {
			masks++
		}
	}
	v = ts2.job(id)
	if v.State != StateCanceled || len(files[pipeline.GapsFile]) == 0 || masks != v.FramesDone {
		t.Errorf("results.zip of the canceled live job: state %s, gaps.json %d bytes, %d masks for %d frames", v.State, len(files[pipeline.GapsFile]), masks, v.FramesDone)
	}
	t.Logf("restarted live session canceled after %d frames; %d frames dropped to keep up, latency at most %d frames after writing a frame",
		v.FramesDone, v.Dropped, v.MaxLatency)
	if code, _ := ts2.do("DELETE", "/api/v1/jobs/"+id, nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
}

// checkGaps checks a gaps.json with n closed gaps of 5 s or more.
func checkGaps(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	var doc struct {
		Gaps []pipeline.GapRecord `json:"gaps"`
	}
	if err != nil || json.Unmarshal(b, &doc) != nil || len(doc.Gaps) != n {
		t.Fatalf("%s: %v: %s", path, err, b)
	}
	for i, g := range doc.Gaps {
		if g.End == nil || g.FirstFrameAfter != g.LastFrameBefore+1 || g.Seconds < 4.5 {
			t.Errorf("%s gap %d: %+v", path, i, g)
		}
	}
}

func objectIDs(v JobView) []uint16 {
	var ids []uint16
	for _, o := range v.Objects {
		ids = append(ids, o.ID)
	}
	return ids
}

func equalIDs(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
