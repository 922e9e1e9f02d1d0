package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"samtrack/internal/jobstore"
	"samtrack/pipeline"
)

// TestLoadFourJobs: four concurrent file jobs on two cores give mask PNGs
// identical to each job run alone.
func TestLoadFourJobs(t *testing.T) {
	needVideos(t)
	type jobSpec struct {
		input   string
		prompts pipeline.Prompts
	}
	box := func(x0, y0, x1, y1 float64) pipeline.Prompts {
		return pipeline.Prompts{Objects: []pipeline.ObjectPrompt{{ID: 1, Box: []float64{x0, y0, x1, y1}}}}
	}
	specs := []jobSpec{
		{abs(t, catMP4), onePoint(300, 170)},
		{abs(t, catMP4), box(200, 60, 420, 310)},
		{abs(t, blackswanMP4), onePoint(500, 200)},
		{abs(t, blackswanMP4), box(380, 100, 650, 330)},
	}
	options := map[string]any{"video.max_frames": 40, "track.overlay": false}

	start := time.Now()
	alone := make([]map[string][]byte, len(specs))
	for i, s := range specs {
		alone[i] = referenceRun(t, s.input, s.prompts, options)
	}
	aloneTime := time.Since(start)

	ts := startServer(t, Options{MaxParallel: 4})
	start = time.Now()
	ids := make([]string, len(specs))
	for i, s := range specs {
		ids[i] = ts.createJob(map[string]any{"input": s.input, "prompts": s.prompts, "options": options})
	}
	maxRunning := 0
	for {
		running, done := 0, 0
		for _, id := range ids {
			switch v := ts.job(id); v.State {
			case StateRunning:
				running++
			case StateDone:
				done++
			case StateFailed, StateCanceled:
				t.Fatalf("job %s: %s %s", id, v.State, v.Error)
			}
		}
		maxRunning = max(maxRunning, running)
		if done == len(ids) {
			break
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatal("the four jobs did not finish within 3 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	concTime := time.Since(start)
	for i, id := range ids {
		sameMasks(t, fmt.Sprintf("job %d (%s)", i, filepath.Base(specs[i].input)), alone[i], readMasks(t, filepath.Join(ts.data, "jobs", id, "out")))
	}
	t.Logf("4 jobs x 40 frames: one after another alone %v, concurrently (up to %d running at once) %v, ratio %.2f; mask PNGs identical: %v",
		aloneTime.Round(time.Millisecond), maxRunning, concTime.Round(time.Millisecond), concTime.Seconds()/aloneTime.Seconds(), !t.Failed())
	if maxRunning < 2 {
		t.Errorf("at most %d jobs ran at once with MaxParallel 4", maxRunning)
	}
}

// TestShutdownCheckpointsAndResumes: a graceful shutdown in the middle of a
// job leaves it queued with every finished frame on disk; the next server
// on the same data directory resumes it, and the result equals an
// uninterrupted run.
func TestShutdownCheckpointsAndResumes(t *testing.T) {
	needVideos(t)
	options := map[string]any{"track.overlay": false, "video.max_frames": 120}
	ref := referenceRun(t, abs(t, catMP4), onePoint(300, 170), options)
	data := t.TempDir()
	ts := startServer(t, Options{DataDir: data})
	id := ts.createJob(pointJob(abs(t, catMP4), 300, 170, options))
	ts.waitJob(id, 30*time.Second, "30 frames", func(v JobView) bool { return v.FramesDone >= 30 })
	ts.stop()
	out := filepath.Join(data, "jobs", id, "out")
	before := readMasks(t, out)
	m, err := readManifest(out)
	if err != nil || m.Complete || m.FramesDone < 30 || m.FramesDone >= 120 || len(before) != m.FramesDone {
		t.Fatalf("after shutdown: manifest %+v (%v), %d masks", m, err, len(before))
	}

	srv, err := New(Options{DataDir: data, AllowDirs: []string{abs(t, videosDir)}, Logger: quietLogger(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	ts2 := serve(t, srv, Options{DataDir: data})
	v := ts2.waitJob(id, 60*time.Second, "finish", finished)
	if v.State != StateDone || v.FramesDone != 120 || v.Resumes != 1 {
		t.Fatalf("resumed job: %s, %d frames, %d resumes, %q", v.State, v.FramesDone, v.Resumes, v.Error)
	}
	after := readMasks(t, out)
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("%s changed after the resume", name)
		}
	}
	sameMasks(t, "resumed vs uninterrupted", ref, after)
	t.Logf("shut down after %d of 120 frames; the restarted server resumed and finished; masks identical to an uninterrupted run", m.FramesDone)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// samtrackBinary builds cmd/samtrack once.
func samtrackBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "samtrack-serve-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "samtrack")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/samtrack").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build samtrack: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// serveProcess is `samtrack serve` as a child process.
type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func startProcess(t testing.TB, bin, data string) *serveProcess {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(bin, "serve", "--listen", addr, "--data", data, "--allow-dir", abs(t, videosDir))
	cmd.Env = append(os.Environ(), "SAMTRACK_LOG_LEVEL=warn")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, url: "http://" + addr, stderr: &stderr}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("samtrack serve did not come up: %v\n%s", err, stderr.String())
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// TestCrashRecovery kills the real `samtrack serve` with SIGKILL in the
// middle of a file job and starts it again on the same data directory: the
// job list is intact, the job resumes and finishes, every mask written
// before the kill is unchanged, and the result is identical to `samtrack
// track` run alone on the same input and prompt.
func TestCrashRecovery(t *testing.T) {
	needVideos(t)
	bin := samtrackBinary(t)
	data := t.TempDir()

	// The reference: the CLI, alone.
	refOut := filepath.Join(t.TempDir(), "ref")
	cli := exec.Command(bin, "track", abs(t, catMP4), "--point", "300,170", "--overlay=false", "--out", refOut)
	cli.Env = append(os.Environ(), "SAMTRACK_LOG_LEVEL=warn")
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("samtrack track: %v\n%s", err, out)
	}
	ref := readMasks(t, refOut)

	p := startProcess(t, bin, data)
	ts := &testServer{t: t, url: p.url}
	other := ts.createJob(pointJob(abs(t, blackswanMP4), 500, 200, map[string]any{"video.max_frames": 5, "track.overlay": false}))
	id := ts.createJob(pointJob(abs(t, catMP4), 300, 170, map[string]any{"track.overlay": false}))
	ts.waitJob(other, 30*time.Second, "the first job finishes", finished)
	v := ts.waitJob(id, 60*time.Second, "40 frames", func(v JobView) bool { return v.FramesDone >= 40 || finished(v) })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	if v.State != StateRunning {
		t.Fatalf("the job was %s before the kill; it should have been running", v.State)
	}
	out := filepath.Join(data, "jobs", id, "out")
	m, err := readManifest(out)
	if err != nil || m.Complete {
		t.Fatalf("after kill -9: manifest %+v, %v", m, err)
	}
	before := readMasks(t, out)
	t.Logf("killed with SIGKILL after %d committed frames (%d mask files on disk)", m.FramesDone, len(before))

	p2 := startProcess(t, bin, data)
	ts2 := &testServer{t: t, url: p2.url}
	code, body := ts2.do("GET", "/api/v1/jobs", nil)
	var list struct{ Jobs []JobView }
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Jobs) != 2 || list.Jobs[0].ID != other || list.Jobs[1].ID != id {
		t.Fatalf("job list after the restart: %d %s", code, body)
	}
	if list.Jobs[0].State != StateDone || list.Jobs[0].FramesDone != 5 {
		t.Errorf("the finished job after the restart: %+v", list.Jobs[0])
	}
	v = ts2.waitJob(id, 60*time.Second, "finish", finished)
	if v.State != StateDone || v.FramesDone != 149 || v.Resumes != 1 {
		t.Fatalf("after the restart: %s, %d frames, %d resumes, %q\n%s", v.State, v.FramesDone, v.Resumes, v.Error, p2.stderr.String())
	}
	after := readMasks(t, out)
	changed := 0
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			changed++
		}
	}
	if changed > 0 {
		t.Errorf("%d masks written before the kill changed", changed)
	}
	sameMasks(t, "service after kill -9 vs samtrack track", ref, after)
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p2.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("samtrack serve after SIGTERM: %v\n%s", err, p2.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Error("samtrack serve did not exit within 30 s of SIGTERM")
	}
	if s := p2.stderr.String() + p.stderr.String(); strings.Contains(s, "panic") {
		t.Errorf("the server panicked:\n%s", s)
	}
}

// TestCrashLoopMarksFailed: a job that was running during more crashes
// than Options.MaxResumes allows is marked failed with the reason instead
// of being resumed again; one within the limit is queued again.
func TestCrashLoopMarksFailed(t *testing.T) {
	data := t.TempDir()
	st, err := jobstore.Open[jobRecord](filepath.Join(data, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*jobRecord{
		{ID: "0000000000010000000a", Input: "/x.mp4", Source: "/nonexistent/x.mp4", State: StateRunning, Crashes: 2, Prompts: onePoint(1, 1)},
		{ID: "0000000000020000000b", Input: "/y.mp4", Source: "/nonexistent/y.mp4", State: StateRunning, Crashes: 0, Prompts: onePoint(1, 1)},
	} {
		if err := st.Put(r.ID, r); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	srv, err := New(Options{DataDir: data, MaxResumes: 2, Logger: quietLogger(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, b := srv.jobs["0000000000010000000a"].snapshot(), srv.jobs["0000000000020000000b"].snapshot()
	if a.State != StateFailed || !strings.Contains(a.Error, "crash") || a.Finished == nil {
		t.Errorf("job after 3 crashes: %s %q", a.State, a.Error)
	}
	if b.State != StateQueued || b.Crashes != 1 {
		t.Errorf("job after 1 crash: %s, %d crashes", b.State, b.Crashes)
	}
	if _, err := os.Stat(filepath.Join(data, "jobs.db.migrated")); err != nil {
		t.Errorf("the earlier job database was not moved into NATS and set aside: %v", err)
	}
	t.Logf("after a third crash: %s: %s", a.State, a.Error)
}
