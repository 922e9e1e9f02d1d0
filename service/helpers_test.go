package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"samtrack/config"
	"samtrack/internal/testenv"
	"samtrack/pipeline"
	"samtrack/video"
)

// The tests run the real server on 127.0.0.1 and real jobs (FFmpeg
// decoding, the classical segmenter and the builtin propagator, which need
// no model weights) on the shared videos.
const (
	videosDir    = "../../shared/data/videos"
	catMP4       = videosDir + "/cat.mp4"
	blackswanMP4 = videosDir + "/blackswan.mp4"
)

func TestMain(m *testing.M) {
	// FFmpeg's own messages (the overlay encoder's statistics) go through
	// slog, as in the CLI, instead of straight to stderr.
	video.LogFFmpegTo(quietLogger(), slog.LevelWarn)
	os.Exit(m.Run())
}

func needVideos(t testing.TB) {
	t.Helper()
	for _, p := range []string{catMP4, blackswanMP4} {
		if _, err := os.Stat(p); err != nil {
			testenv.Missing(t, "shared test video missing (%v): it lives outside the repository under ../shared", err)
		}
	}
}

func abs(t testing.TB, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testServer is a Server serving on 127.0.0.1.
type testServer struct {
	t      testing.TB
	srv    *Server
	url    string
	token  string
	data   string
	cancel context.CancelFunc
	done   chan error
}

// quietLogger keeps the test output readable; failures print the job's
// error anyway.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer starts a server with opts (DataDir and AllowDirs filled in
// when empty) and stops it when the test ends.
func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.AllowDirs == nil {
		needVideos(t) // the default allowed folder is the shared videos'
		opts.AllowDirs = []string{abs(t, videosDir)}
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.Environ == nil {
		opts.Environ = []string{}
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, srv, opts)
}

func serve(t testing.TB, srv *Server, opts Options) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, srv: srv, url: "http://" + ln.Addr().String(), token: opts.Token, data: opts.DataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(ts.stop)
	return ts
}

// stop shuts the server down gracefully and waits for it.
func (ts *testServer) stop() {
	ts.cancel()
	select {
	case err := <-ts.done:
		if err != nil {
			ts.t.Errorf("server: %v", err)
		}
		ts.done <- nil // a second stop returns at once
	case <-time.After(60 * time.Second):
		ts.t.Errorf("server did not shut down within 60 s")
	}
}

// do sends a request and returns the status and body.
func (ts *testServer) do(method, path string, body any) (int, []byte) {
	ts.t.Helper()
	return ts.doHeader(method, path, body, nil)
}

func (ts *testServer) doHeader(method, path string, body any, hdr http.Header) (int, []byte) {
	ts.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.url+path, r)
	if err != nil {
		ts.t.Fatal(err)
	}
	if ts.token != "" {
		req.Header.Set("Authorization", "Bearer "+ts.token)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	if resp.StatusCode >= 400 {
		ts.noServerPaths(method+" "+path+" error", string(out))
	}
	return resp.StatusCode, out
}

// noServerPaths fails the test when a message shown to clients holds the
// server's data directory: every error answer and every job's error in the
// service tests goes through it.
func (ts *testServer) noServerPaths(what, msg string) {
	ts.t.Helper()
	if ts.data == "" || msg == "" {
		return
	}
	dirs := []string{ts.data}
	if real, err := filepath.EvalSymlinks(ts.data); err == nil {
		dirs = append(dirs, real)
	}
	for _, d := range dirs {
		if strings.Contains(msg, d) {
			ts.t.Errorf("%s shows the server's data directory %s: %s", what, d, msg)
		}
	}
}

// createJob posts a job and returns its id.
func (ts *testServer) createJob(req map[string]any) string {
	ts.t.Helper()
	code, body := ts.do("POST", "/api/v1/jobs", req)
	if code != http.StatusCreated {
		ts.t.Fatalf("create job: %d %s", code, body)
	}
	var v JobView
	if err := json.Unmarshal(body, &v); err != nil {
		ts.t.Fatal(err)
	}
	return v.ID
}

func (ts *testServer) job(id string) JobView {
	ts.t.Helper()
	code, body := ts.do("GET", "/api/v1/jobs/"+id, nil)
	if code != http.StatusOK {
		ts.t.Fatalf("get job %s: %d %s", id, code, body)
	}
	var v JobView
	if err := json.Unmarshal(body, &v); err != nil {
		ts.t.Fatal(err)
	}
	ts.noServerPaths("job "+id+"'s error", v.Error)
	return v
}

// waitJob polls the job until cond holds, failing after d.
func (ts *testServer) waitJob(id string, d time.Duration, what string, cond func(JobView) bool) JobView {
	ts.t.Helper()
	deadline := time.Now().Add(d)
	for {
		v := ts.job(id)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("job %s: %s did not happen within %v; last: state %s, frames %d, error %q", id, what, d, v.State, v.FramesDone, v.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func finished(v JobView) bool { return v.State.final() }

// pointJob is a job request on input with one click for object 1.
func pointJob(input string, x, y float64, options map[string]any) map[string]any {
	return map[string]any{
		"input":   input,
		"prompts": map[string]any{"objects": []any{map[string]any{"id": 1, "points": [][]float64{{x, y, 1}}}}},
		"options": options,
	}
}

// sseClient reads a job's event stream in the background.
type sseClient struct {
	mu     sync.Mutex
	events []sseEvent
	done   chan struct{}
	cancel context.CancelFunc
	err    error
}

type sseEvent struct {
	ID   string
	Name string
	Data map[string]any
	At   time.Time
}

func (ts *testServer) subscribe(id string) *sseClient {
	ts.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &sseClient{done: make(chan struct{}), cancel: cancel}
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+"/api/v1/jobs/"+id+"/events", nil)
	if ts.token != "" {
		req.Header.Set("Authorization", "Bearer "+ts.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		ts.t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		ts.t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" {
					if msg, _ := ev.Data["error"].(string); msg != "" {
						ts.noServerPaths("event "+ev.Name, msg) // t.Errorf is safe until the cleanup below returns
					}
					ev.At = time.Now()
					c.mu.Lock()
					c.events = append(c.events, ev)
					c.mu.Unlock()
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[6:]), &ev.Data); err != nil {
					c.mu.Lock()
					c.err = fmt.Errorf("event data %q: %v", line, err)
					c.mu.Unlock()
				}
			}
		}
	}()
	ts.t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func (c *sseClient) snapshot() []sseEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sseEvent(nil), c.events...)
}

// count returns how many events of name have arrived.
func (c *sseClient) count(name string) int {
	n := 0
	for _, e := range c.snapshot() {
		if e.Name == name {
			n++
		}
	}
	return n
}

// wait waits until an event of name satisfying cond (nil: any) arrives.
func (c *sseClient) wait(t testing.TB, name string, d time.Duration, cond func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, e := range c.snapshot() {
			if e.Name == name && (cond == nil || cond(e)) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q event within %v (got %d events)", name, d, len(c.snapshot()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readMasks reads every PNG under dir/masks.
func readMasks(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "masks", "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// sameMasks fails unless want and got hold the same files byte for byte.
func sameMasks(t testing.TB, what string, want, got map[string][]byte) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the reference has no masks", what)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d mask files, want %d", what, len(got), len(want))
	}
	diff := 0
	for name, w := range want {
		if g, ok := got[name]; !ok || !bytes.Equal(g, w) {
			if diff < 3 {
				t.Errorf("%s: %s differs (or is missing)", what, name)
			}
			diff++
		}
	}
	if diff > 0 {
		t.Errorf("%s: %d of %d masks differ", what, diff, len(want))
	}
}

// referenceRun runs a job alone with pipeline.Run, as `samtrack track`
// does, and returns its masks.
func referenceRun(t testing.TB, input string, prompts pipeline.Prompts, options map[string]any) map[string][]byte {
	t.Helper()
	c, err := config.Load(config.Source{Overrides: options, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := pipeline.Run(context.Background(), pipeline.Spec{Input: input, Out: out, Prompts: prompts, Config: c},
		pipeline.Hooks{Logger: quietLogger()}); err != nil {
		t.Fatalf("reference run of %s: %v", input, err)
	}
	return readMasks(t, out)
}

func onePoint(x, y float64) pipeline.Prompts {
	return pipeline.Prompts{Objects: []pipeline.ObjectPrompt{{ID: 1, Points: [][]float64{{x, y, 1}}}}}
}
