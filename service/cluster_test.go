package service

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"samtrack/internal/natsbus"
	"samtrack/internal/natstest"
)

// workerProcess is `samtrack worker` as a child process.
type workerProcess struct {
	name string
	cmd  *exec.Cmd
	log  string // its stderr, in a file
}

// startWorker runs `samtrack worker` on the cluster; it is killed when the
// test ends if it still runs.
func startWorker(t testing.TB, natsURL, data, name string, args ...string) *workerProcess {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(samtrackBinary(t), append([]string{"worker", "--nats", natsURL, "--data", data, "--name", name}, args...)...)
	cmd.Env = append(os.Environ(), "SAMTRACK_LOG_LEVEL=info")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProcess{name: name, cmd: cmd, log: log}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("worker %s did not stop within 20 s of SIGTERM", name)
			}
		}
		if b, _ := os.ReadFile(log); strings.Contains(string(b), "panic") {
			t.Errorf("worker %s panicked:\n%s", name, b)
		}
	})
	return w
}

// kill stops the worker with SIGKILL and waits for it.
func (w *workerProcess) kill(t testing.TB) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w.cmd.Wait()
}

// clusterServer is serve in cluster mode on an external NATS, with no
// local worker: every job runs on a worker process.
func clusterServer(t testing.TB, natsURL string, opts Options) *testServer {
	t.Helper()
	opts.NATS = natsbus.ClientOptions{URL: natsURL}
	opts.Cluster, opts.NoLocalWorker = true, true
	return startServer(t, opts)
}

// trackCLI runs `samtrack track` alone with one click (object 1) and
// returns its masks: the reference a cluster's job must match byte for byte.
func trackCLI(t testing.TB, input string, x, y float64, maxFrames int) map[string][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ref")
	cmd := exec.Command(samtrackBinary(t), "track", input, "--point", fmt.Sprintf("%g,%g", x, y), "--overlay=false", "--out", out)
	cmd.Env = append(os.Environ(), "SAMTRACK_LOG_LEVEL=warn")
	if maxFrames > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("SAMTRACK_VIDEO_MAX_FRAMES=%d", maxFrames))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("samtrack track %s: %v\n%s", input, err, b)
	}
	return readMasks(t, out)
}

// TestClusterJobsOnThreeWorkers: serve on an external nats-server queues 12
// file jobs for 3 worker processes. All finish; each worker runs at least
// 2; no job ran twice or was resumed (its record names one worker and its
// manifest one uninterrupted run); every job's masks are byte-identical to
// `samtrack track` on the same input and click.
func TestClusterJobsOnThreeWorkers(t *testing.T) {
	needVideos(t)
	nats := natstest.Start(t)
	ts := clusterServer(t, nats.URL, Options{MaxQueue: 32})
	for i := range 3 {
		startWorker(t, nats.URL, ts.data, fmt.Sprintf("w%d", i+1), "--max-live", "0")
	}
	const frames = 24
	inputs := []struct {
		path string
		x, y float64
	}{{abs(t, catMP4), 300, 170}, {abs(t, blackswanMP4), 500, 200}}
	refs := make([]map[string][]byte, len(inputs))
	for i, in := range inputs {
		refs[i] = trackCLI(t, in.path, in.x, in.y, frames)
	}
	ids := make([]string, 12)
	for i := range ids {
		in := inputs[i%len(inputs)]
		ids[i] = ts.createJob(pointJob(in.path, in.x, in.y, map[string]any{"video.max_frames": frames, "track.overlay": false}))
	}
	perWorker := map[string]int{}
	for i, id := range ids {
		v := ts.waitJob(id, 3*time.Minute, "finish", finished)
		if v.State != StateDone || v.FramesDone != frames {
			t.Fatalf("job %d ended %s after %d frames: %s", i, v.State, v.FramesDone, v.Error)
		}
		if len(v.Workers) != 1 || v.Worker != v.Workers[0] || v.Resumes != 0 {
			t.Errorf("job %d ran on workers %v with %d resumes; want one uninterrupted run", i, v.Workers, v.Resumes)
		}
		perWorker[v.Worker]++
		out := filepath.Join(ts.data, "jobs", id, "out")
		if m, err := readManifest(out); err != nil || !m.Complete || m.FramesDone != frames {
			t.Errorf("job %d: manifest %+v, %v", i, m, err)
		}
		sameMasks(t, fmt.Sprintf("job %d on worker %s vs samtrack track", i, v.Worker), refs[i%len(inputs)], readMasks(t, out))
	}
	t.Logf("jobs per worker: %v", perWorker)
	// serve counts the workers' frames from their relayed progress events
	// (the last ones may still be on their way)
	want := fmt.Sprintf("samtrack_frames_processed_total %d\n", len(ids)*frames)
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, met := ts.do("GET", "/metrics", nil)
		if code == 200 && strings.Contains(string(met), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("serve's /metrics does not count the workers' frames (want %q):\n%s", want, met)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, w := range []string{"w1", "w2", "w3"} {
		if perWorker[w] < 2 {
			t.Errorf("worker %s ran %d jobs; each of the 3 should run at least 2 of the 12 (%v)", w, perWorker[w], perWorker)
		}
	}
}

// TestClusterWorkerKilledMidJob: the worker running a file job is killed
// with SIGKILL; after the ack wait the other worker resumes the job from
// its last committed frame, and the masks are byte-identical to an
// uninterrupted `samtrack track`, those written before the kill unchanged.
func TestClusterWorkerKilledMidJob(t *testing.T) {
	needVideos(t)
	nats := natstest.Start(t)
	wait := ClusterOptions{AckWait: 3 * time.Second}
	ts := clusterServer(t, nats.URL, Options{ClusterOptions: wait})
	workers := map[string]*workerProcess{}
	for _, name := range []string{"a", "b"} {
		workers[name] = startWorker(t, nats.URL, ts.data, name, "--max-live", "0", "--ack-wait", "3s")
	}
	ref := trackCLI(t, abs(t, catMP4), 300, 170, 0)
	id := ts.createJob(pointJob(abs(t, catMP4), 300, 170, map[string]any{"track.overlay": false}))
	v := ts.waitJob(id, time.Minute, "40 frames", func(v JobView) bool { return v.FramesDone >= 40 || finished(v) })
	victim := workers[v.Worker]
	if v.State != StateRunning || victim == nil {
		t.Fatalf("before the kill the job was %s on worker %q", v.State, v.Worker)
	}
	victim.kill(t)
	killed := time.Now()
	out := filepath.Join(ts.data, "jobs", id, "out")
	before := readMasks(t, out)
	v = ts.waitJob(id, 2*time.Minute, "finish on the other worker", finished)
	other := "a"
	if victim.name == "a" {
		other = "b"
	}
	if v.State != StateDone || v.FramesDone != 149 {
		t.Fatalf("after the kill the job ended %s after %d frames: %s", v.State, v.FramesDone, v.Error)
	}
	if !slices.Equal(v.Workers, []string{victim.name, other}) || v.Resumes != 1 {
		t.Errorf("workers %v, %d resumes; want [%s %s] and 1 resume", v.Workers, v.Resumes, victim.name, other)
	}
	t.Logf("killed %s with %d masks committed; %s finished the job %v later", victim.name, len(before), other, time.Since(killed).Round(time.Second))
	after := readMasks(t, out)
	for name, b := range before {
		if string(after[name]) != string(b) {
			t.Errorf("mask %s written before the kill changed", name)
		}
	}
	sameMasks(t, "cluster job after kill -9 of its worker vs samtrack track", ref, after)
}

// TestClusterNATSOutage: the external nats-server stops for 10 s while a
// worker runs a file job and another waits in the queue, then starts again
// on the same store: both jobs finish, every mask committed before the
// outage is unchanged, and both jobs' masks are byte-identical to
// `samtrack track`.
func TestClusterNATSOutage(t *testing.T) {
	needVideos(t)
	nats := natstest.Start(t)
	ts := clusterServer(t, nats.URL, Options{})
	startWorker(t, nats.URL, ts.data, "w1", "--max-live", "0")
	refA := trackCLI(t, abs(t, catMP4), 300, 170, 0)
	refB := trackCLI(t, abs(t, blackswanMP4), 500, 200, 20)
	a := ts.createJob(pointJob(abs(t, catMP4), 300, 170, map[string]any{"track.overlay": false}))
	b := ts.createJob(pointJob(abs(t, blackswanMP4), 500, 200, map[string]any{"video.max_frames": 20, "track.overlay": false}))
	ts.waitJob(a, time.Minute, "30 frames", func(v JobView) bool { return v.FramesDone >= 30 || finished(v) })
	outA := filepath.Join(ts.data, "jobs", a, "out")
	before := readMasks(t, outA)
	nats.Restart(t, 10*time.Second)
	va := ts.waitJob(a, 2*time.Minute, "finish after the outage", finished)
	vb := ts.waitJob(b, time.Minute, "finish after the outage", finished)
	for _, v := range []JobView{va, vb} {
		if v.State != StateDone {
			t.Fatalf("job %s ended %s: %s", v.ID, v.State, v.Error)
		}
	}
	t.Logf("after a 10 s outage: job a %d frames on %v (%d resumes), job b %d frames on %v; %d masks committed before it",
		va.FramesDone, va.Workers, va.Resumes, vb.FramesDone, vb.Workers, len(before))
	after := readMasks(t, outA)
	for name, m := range before {
		if string(after[name]) != string(m) {
			t.Errorf("mask %s committed before the outage changed", name)
		}
	}
	sameMasks(t, "job a after the NATS outage vs samtrack track", refA, after)
	sameMasks(t, "job b (queued during the outage) vs samtrack track", refB, readMasks(t, filepath.Join(ts.data, "jobs", b, "out")))
}

// TestWorkerKeepsMemoryFlat: 200 consecutive jobs through the cluster's
// queue in one `samtrack worker` process: its RSS after job 200 is at most
// 1.1 x its RSS after job 20.
func TestWorkerKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("200 jobs; run without -short")
	}
	sample := abs(t, "../testdata/sample.mp4")
	nats := natstest.Start(t)
	ts := clusterServer(t, nats.URL, Options{MaxQueue: 8, AllowDirs: []string{filepath.Dir(sample)}})
	w := startWorker(t, nats.URL, ts.data, "w1", "--max-live", "0")
	// A mask prompt (object 1, a rectangle of sample.mp4's 640x360 frame):
	// no GrabCut per job, so 200 jobs take a fraction of the time.
	labels := image.NewGray(image.Rect(0, 0, 640, 360))
	for y := 100; y < 200; y++ {
		for x := 200; x < 360; x++ {
			labels.Pix[y*labels.Stride+x] = 1
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, labels); err != nil {
		t.Fatal(err)
	}
	prompt := map[string]any{"mask": "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}
	var at20 int
	for i := 1; i <= 200; i++ {
		id := ts.createJob(map[string]any{"input": sample, "prompts": prompt, "options": map[string]any{"video.max_frames": 2, "track.overlay": false}})
		if v := ts.waitJob(id, time.Minute, "finish", finished); v.State != StateDone || v.Worker != "w1" {
			t.Fatalf("job %d ended %s on worker %q: %s", i, v.State, v.Worker, v.Error)
		}
		if i == 20 {
			at20 = processRSSKB(t, w.cmd.Process.Pid)
		}
	}
	at200 := processRSSKB(t, w.cmd.Process.Pid)
	t.Logf("worker RSS after job 20: %.1f MiB, after job 200: %.1f MiB (%.3f x)", float64(at20)/1024, float64(at200)/1024, float64(at200)/float64(at20))
	if float64(at200) > 1.1*float64(at20) {
		t.Errorf("the worker's RSS grew from %d to %d KiB over 180 jobs (> 1.1 x)", at20, at200)
	}
}

// processRSSKB is a process's resident set size, read after it has been
// idle for a second (the job just ended).
func processRSSKB(t testing.TB, pid int) int {
	t.Helper()
	time.Sleep(time.Second)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the worker's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
