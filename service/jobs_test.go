package service

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"samtrack/internal/testenv"
	"samtrack/internal/testgen"
	"samtrack/mask"
)

// TestJobLifecycle runs one file job through the API and checks everything
// a client sees of it: 100 concurrent status requests while it runs, a
// prompt added while it runs, the SSE stream (progress, appeared, final
// state), the overlay frame and MJPEG stream, a results.zip snapshot while
// it runs and the full one at the end, the metrics, and deletion.
// TestJobFPSOfShortRun: a finished job reports its run's mean rate from the
// first frame to the last. The one-second window alone left a short run at
// its first frame's rate, which includes opening the input and GrabCut on
// the box (a 10-frame job that tracked at tens of frames a second said 0.4).
func TestJobFPSOfShortRun(t *testing.T) {
	needVideos(t)
	ts := startServer(t, Options{})
	const frames = 10
	id := ts.createJob(map[string]any{"input": abs(t, catMP4),
		"prompts": map[string]any{"objects": []any{map[string]any{"id": 1, "box": []float64{200, 50, 450, 300}}}},
		"options": map[string]any{"video.max_frames": frames, "track.overlay": false}})
	v := ts.waitJob(id, 60*time.Second, "finish", finished)
	if v.State != StateDone || v.FramesDone != frames || v.Started == nil || v.Finished == nil {
		t.Fatalf("job ended %s after %d frames: %q", v.State, v.FramesDone, v.Error)
	}
	// frames 2..10 took at most the whole run, setup included
	floor := float64(frames-1) / v.Finished.Sub(*v.Started).Seconds()
	t.Logf("fps %.1f; frames 2-%d over the whole run %.1f", v.FPS, frames, floor)
	if v.FPS < floor {
		t.Errorf("fps %.2f, below %.2f (%d frames after the first within the run's %v)", v.FPS, floor, frames-1, v.Finished.Sub(*v.Started))
	}
}

func TestJobLifecycle(t *testing.T) {
	needVideos(t)
	ts := startServer(t, Options{})
	const frames = 90
	id := ts.createJob(pointJob(abs(t, catMP4), 300, 170, map[string]any{"video": map[string]any{"max_frames": frames}}))
	ev := ts.subscribe(id)
	ts.waitJob(id, 30*time.Second, "running with frames", func(v JobView) bool { return v.State == StateRunning && v.FramesDone >= 3 })

	// A new object, prompted while the job runs, on a frame ahead.
	code, body := ts.do("POST", "/api/v1/jobs/"+id+"/prompts", map[string]any{"frame": 40, "box": []float64{20, 40, 180, 300}})
	if code != http.StatusAccepted {
		t.Fatalf("prompts: %d %s", code, body)
	}

	// 100 concurrent status requests while the job runs: all answered.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	start := time.Now()
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(ts.url + "/api/v1/jobs/" + id)
			c := -1
			if err == nil {
				var v JobView
				if json.NewDecoder(resp.Body).Decode(&v) == nil && v.ID == id {
					c = resp.StatusCode
				}
				resp.Body.Close()
			}
			mu.Lock()
			codes[c]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[200] != 100 {
		t.Errorf("100 concurrent status requests: %v", codes)
	}
	v := ts.job(id)
	t.Logf("100 concurrent status requests answered in %v while the job ran (state %s, frame %d)", time.Since(start).Round(time.Millisecond), v.State, v.FramesDone)

	// The latest overlay frame and the MJPEG stream.
	code, jpg := ts.do("GET", "/api/v1/jobs/"+id+"/frame.jpg", nil)
	if code != 200 {
		t.Fatalf("frame.jpg: %d %s", code, jpg)
	}
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil || img.Bounds().Dx() != 568 || img.Bounds().Dy() != 320 {
		t.Fatalf("frame.jpg: %v, %v", err, img)
	}
	parts := readMJPEG(t, ts.url+"/api/v1/jobs/"+id+"/live.mjpeg?fps=30", 3)
	t.Logf("live.mjpeg: %d JPEG parts, frame indices %v", len(parts), parts)

	// A results snapshot while the job runs is consistent.
	if v := ts.job(id); v.State == StateRunning {
		files := readZip(t, ts, id)
		var ann struct{ Images []any }
		if err := json.Unmarshal(files["annotations.json"], &ann); err != nil {
			t.Fatalf("annotations.json of a running job is not valid JSON: %v", err)
		}
		t.Logf("results.zip while running: %d files, %d images in annotations.json", len(files), len(ann.Images))
	} else {
		t.Logf("the job finished before the snapshot (state %s)", v.State)
	}

	v = ts.waitJob(id, 60*time.Second, "finish", finished)
	if v.State != StateDone || v.FramesDone != frames || v.Error != "" {
		t.Fatalf("job ended %s after %d frames: %q", v.State, v.FramesDone, v.Error)
	}
	if len(v.Objects) != 2 || v.Objects[0].ID != 1 || v.Objects[1].ID != 2 || v.Objects[1].FirstFrame != 40 {
		t.Errorf("objects %+v: want 1 from frame 0 and 2 (the live prompt) from frame 40", v.Objects)
	}
	ev.wait(t, "state", 5*time.Second, func(e sseEvent) bool { return e.Data["state"] == "done" })
	<-ev.done // the stream ends after the final state
	if ev.err != nil {
		t.Error(ev.err)
	}
	app := map[float64]float64{}
	for _, e := range ev.snapshot() {
		if e.Name == "appeared" {
			app[e.Data["id"].(float64)] = e.Data["frame"].(float64)
		}
	}
	if app[1] != 0 || app[2] != 40 || len(app) != 2 {
		t.Errorf("appeared events %v: want object 1 at frame 0 and 2 at frame 40", app)
	}
	if n := ev.count("progress"); n < 10 {
		t.Errorf("%d progress events", n)
	}
	t.Logf("SSE: %d events (%d progress), appeared %v", len(ev.snapshot()), ev.count("progress"), app)
	all := ev.snapshot()
	last := all[len(all)-1].ID
	if code, b := ts.doHeader("GET", "/api/v1/jobs/"+id+"/events", nil, http.Header{"Last-Event-Id": {last}}); code != http.StatusNoContent {
		t.Errorf("events of a finished job after its last event: %d %s, want 204 (EventSource stops reconnecting)", code, b)
	}

	files := readZip(t, ts, id)
	for _, name := range []string{"annotations.json", "tracks.json", "overlay.mp4", "manifest.json", "masks/00000.png", fmt.Sprintf("masks/%05d.png", frames-1)} {
		if len(files[name]) == 0 {
			t.Errorf("results.zip has no %s", name)
		}
	}
	n := 0
	for name, b := range files {
		if strings.HasPrefix(name, "masks/") {
			n++
			if _, err := png.Decode(bytes.NewReader(b)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	if n != frames {
		t.Errorf("results.zip holds %d masks, want %d", n, frames)
	}
	var tracks struct {
		Objects []struct{ ID int } `json:"objects"`
	}
	if err := json.Unmarshal(files["tracks.json"], &tracks); err != nil || len(tracks.Objects) != 2 {
		t.Errorf("tracks.json: %v, %+v", err, tracks)
	}

	code, met := ts.do("GET", "/metrics", nil)
	for _, want := range []string{`samtrack_jobs{state="done"} 1`, fmt.Sprintf("samtrack_frames_processed_total %d", frames),
		`samtrack_http_requests_total{route="GET /api/v1/jobs/{id}",code="200"}`, "samtrack_queue_length 0"} {
		if code != 200 || !strings.Contains(string(met), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	code, _ = ts.do("POST", "/api/v1/jobs/"+id+"/prompts", map[string]any{"points": [][]float64{{1, 1}}})
	if code != http.StatusConflict {
		t.Errorf("prompt on a finished job: %d, want 409", code)
	}
	if code, body := ts.do("DELETE", "/api/v1/jobs/"+id, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _ := ts.do("GET", "/api/v1/jobs/"+id, nil); code != 404 {
		t.Errorf("deleted job: %d, want 404", code)
	}
	if _, err := os.Stat(filepath.Join(ts.data, "jobs", id)); !os.IsNotExist(err) {
		t.Errorf("the deleted job's directory remains: %v", err)
	}
}

// readZip downloads a job's results.zip and returns its files.
func readZip(t testing.TB, ts *testServer, id string) map[string][]byte {
	t.Helper()
	code, b := ts.do("GET", "/api/v1/jobs/"+id+"/results.zip", nil)
	if code != 200 {
		t.Fatalf("results.zip: %d %s", code, b)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("results.zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name], err = io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("results.zip %s: %v", f.Name, err)
		}
	}
	return out
}

// readMJPEG reads n JPEG parts of an MJPEG stream and returns their frame
// indices.
func readMJPEG(t testing.TB, url string, n int) []string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("live.mjpeg: %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bufio.NewReader(resp.Body), params["boundary"])
	var idx []string
	for len(idx) < n {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("live.mjpeg part %d: %v", len(idx), err)
		}
		b, _ := io.ReadAll(p)
		if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("live.mjpeg part %d is not a JPEG: %v", len(idx), err)
		}
		idx = append(idx, p.Header.Get("X-Frame-Index"))
	}
	return idx
}

// TestQueueBounded: with one worker and a queue of one, a third job is
// refused with 503; cancel stops a running job and keeps its frames.
func TestQueueBounded(t *testing.T) {
	needVideos(t)
	ts := startServer(t, Options{MaxParallel: 1, MaxQueue: 1})
	req := pointJob(abs(t, catMP4), 300, 170, map[string]any{"track.overlay": false})
	a := ts.createJob(req)
	ts.waitJob(a, 30*time.Second, "running", func(v JobView) bool { return v.State == StateRunning && v.FramesDone >= 5 })
	b := ts.createJob(req)
	if v := ts.job(b); v.State != StateQueued || v.Queue != 1 {
		t.Errorf("second job: %s at queue position %d", v.State, v.Queue)
	}
	code, body := ts.do("POST", "/api/v1/jobs", req)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "queue is full") {
		t.Fatalf("third job: %d %s, want 503", code, body)
	}
	if code, body := ts.do("POST", "/api/v1/jobs/"+a+"/cancel", nil); code != 200 {
		t.Fatalf("cancel: %d %s", code, body)
	}
	va := ts.job(a)
	if va.State != StateCanceled {
		t.Errorf("canceled job is %s", va.State)
	}
	if m := readMasks(t, filepath.Join(ts.data, "jobs", a, "out")); len(m) != va.FramesDone || len(m) == 0 {
		t.Errorf("canceled job kept %d masks for %d frames", len(m), va.FramesDone)
	}
	ts.waitJob(b, 30*time.Second, "the queued job starts", func(v JobView) bool { return v.State != StateQueued })
	if code, _ := ts.do("DELETE", "/api/v1/jobs/"+b, nil); code != http.StatusNoContent {
		t.Errorf("delete running job: %d", code)
	}
}

// TestLiveJobsBounded: live jobs do not wait in the file queue but are
// bounded by MaxLive; a live job still connecting can be canceled.
func TestLiveJobsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "rtsp://" + ln.Addr().String() + "/cam" // accepts, never answers
	defer ln.Close()
	ts := startServer(t, Options{MaxParallel: 1, MaxLive: 1, AllowNets: []string{"127.0.0.0/8"}}) // the dead camera is on loopback
	req := map[string]any{"input": dead, "prompts": onePoint(10, 10), "live": map[string]any{"max_backoff": "1s"}}
	a := ts.createJob(req)
	ts.waitJob(a, 10*time.Second, "running", func(v JobView) bool { return v.State == StateRunning })
	code, body := ts.do("POST", "/api/v1/jobs", req)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "live jobs") {
		t.Errorf("second live job: %d %s, want 503", code, body)
	}
	start := time.Now()
	if code, body := ts.do("POST", "/api/v1/jobs/"+a+"/cancel", nil); code != 200 {
		t.Fatalf("cancel a connecting live job: %d %s", code, body)
	}
	if v := ts.job(a); v.State != StateCanceled {
		t.Errorf("canceled live job: %s %q", v.State, v.Error)
	}
	t.Logf("a live job still connecting stopped %v after cancel", time.Since(start).Round(time.Millisecond))
	// Once cancel has answered, the slot is free: a new live job is taken
	// at once, every time (the slot was once freed only after the ended
	// run had saved its record, so a client that asked straight away could
	// get 503).
	for i := range 5 {
		b := ts.createJob(req) // fails the test on a 503
		ts.waitJob(b, 10*time.Second, "running", func(v JobView) bool { return v.State == StateRunning })
		if i == 4 {
			if code, _ := ts.do("DELETE", "/api/v1/jobs/"+b, nil); code != http.StatusNoContent {
				t.Errorf("delete: %d", code)
			}
			break
		}
		if code, body := ts.do("POST", "/api/v1/jobs/"+b+"/cancel", nil); code != 200 {
			t.Fatalf("round %d: cancel: %d %s", i, code, body)
		}
	}
}

// TestSegment: clicks on one frame reuse the decoded frame; the mask for a
// click on frame 0 is the mask a job with that click writes for frame 0;
// several objects, PNG answers and uploaded images work.
func TestSegment(t *testing.T) {
	needVideos(t)
	ts := startServer(t, Options{})
	cat := abs(t, catMP4)
	seg := func(body any) (segmentDoc, int) {
		t.Helper()
		code, b := ts.do("POST", "/api/v1/segment", body)
		var d segmentDoc
		if code == 200 {
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Logf("%d %s", code, b)
		}
		return d, code
	}
	code, _ := ts.do("GET", "/api/v1/frame.jpg?input="+cat+"&frame=0", nil)
	if code != 200 {
		t.Fatalf("frame.jpg: %d", code)
	}
	first, code := seg(map[string]any{"input": cat, "frame": 0, "points": [][]float64{{300, 170, 1}}})
	if code != 200 || !first.Cached || len(first.Annotations) != 1 {
		t.Fatalf("segment after frame.jpg: %d, cached %v, %d annotations", code, first.Cached, len(first.Annotations))
	}
	second, _ := seg(map[string]any{"input": cat, "frame": 0, "points": [][]float64{{300, 170, 1}, {100, 50, 0}}})
	if !second.Cached {
		t.Error("a second click on the same frame decoded it again")
	}
	t.Logf("segment on a cached frame: %d ms and %d ms (classical segmenter: GrabCut dominates)", first.ElapsedMS, second.ElapsedMS)
	if w := first.Annotations[0].Warning; w != "" {
		t.Errorf("a click on the cat warned: %s", w)
	}
	// A 4x4 box is doubtful under the server's track.min_area, not under a
	// request's smaller one.
	for _, c := range []struct {
		options map[string]any
		warn    bool
	}{{nil, true}, {map[string]any{"track.min_area": 10}, false}} {
		tiny, code := seg(map[string]any{"input": cat, "frame": 0, "box": []float64{20, 20, 24, 24}, "options": c.options})
		if code != 200 || len(tiny.Annotations) != 1 {
			t.Fatalf("tiny box: %d", code)
		}
		if w := tiny.Annotations[0].Warning; strings.Contains(w, "below track.min_area") != c.warn {
			t.Errorf("tiny box with options %v: warning %q", c.options, w)
		}
	}

	// The same click through a job gives the same mask on frame 0.
	id := ts.createJob(pointJob(cat, 300, 170, map[string]any{"video.max_frames": 1, "track.overlay": false}))
	if v := ts.waitJob(id, 30*time.Second, "finish", finished); v.State != StateDone {
		t.Fatalf("job: %s %s", v.State, v.Error)
	}
	lm, err := mask.ReadLabelPNGFile(filepath.Join(ts.data, "jobs", id, "out", "masks", "00000.png"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := first.Annotations[0].Segmentation.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, lm.Object(1).Pix) {
		t.Errorf("/segment's mask (area %d) differs from the job's frame-0 mask (area %d)", got.Area(), lm.Object(1).Area())
	}

	// A box with a click uses the motion to the next frame: /segment
	// decodes it too, as the job reads it ahead, and both agree.
	boxClick := map[string]any{"id": 1, "box": []float64{200, 80, 420, 300}, "points": [][]float64{{300, 170, 1}}}
	bid := ts.createJob(map[string]any{"input": cat, "prompts": map[string]any{"objects": []any{boxClick}},
		"options": map[string]any{"video.max_frames": 2, "track.overlay": false}})
	if v := ts.waitJob(bid, 30*time.Second, "finish", finished); v.State != StateDone {
		t.Fatalf("box+click job: %s %s", v.State, v.Error)
	}
	blm, err := mask.ReadLabelPNGFile(filepath.Join(ts.data, "jobs", bid, "out", "masks", "00000.png"))
	if err != nil {
		t.Fatal(err)
	}
	bdoc, code := seg(map[string]any{"input": cat, "frame": 0, "prompts": map[string]any{"objects": []any{boxClick}}})
	if code != 200 || len(bdoc.Annotations) != 1 {
		t.Fatalf("box+click: %d", code)
	}
	if got, err := bdoc.Annotations[0].Segmentation.Decode(); err != nil || !bytes.Equal(got.Pix, blm.Object(1).Pix) {
		t.Errorf("box+click: /segment's mask differs from the job's frame-0 mask (%v)", err)
	}

	multi, code := seg(map[string]any{"job": id, "frame": 0, "prompts": map[string]any{"objects": []any{
		map[string]any{"id": 1, "points": [][]float64{{300, 170, 1}}}, map[string]any{"id": 4, "box": []float64{20, 40, 180, 300}}}}})
	if code != 200 || len(multi.Annotations) != 2 || multi.Annotations[1].ID != 4 {
		t.Errorf("two objects: %d %+v", code, multi.Annotations)
	}

	code, pngb := ts.do("POST", "/api/v1/segment?format=png", map[string]any{"input": cat, "frame": 0, "points": [][]float64{{300, 170, 1}}})
	if code != 200 {
		t.Fatalf("png: %d %s", code, pngb)
	}
	pm, err := png.Decode(bytes.NewReader(pngb))
	if err != nil || pm.Bounds() != image.Rect(0, 0, 568, 320) {
		t.Fatalf("png answer: %v %v", err, pm)
	}

	// An uploaded image.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("image", "frame.png")
	png.Encode(fw, image.NewRGBA(image.Rect(0, 0, 64, 48)))
	mw.WriteField("request", `{"box": [10, 10, 40, 30]}`)
	mw.Close()
	code, b := ts.doHeader("POST", "/api/v1/segment", buf.Bytes(), http.Header{"Content-Type": {mw.FormDataContentType()}})
	var d segmentDoc
	if code != 200 || json.Unmarshal(b, &d) != nil || d.Image.Width != 64 || d.Image.Height != 48 {
		t.Errorf("uploaded image: %d %s", code, b)
	}

	for _, bad := range []map[string]any{
		{"input": cat},
		{"input": cat, "frame": 100000, "points": [][]float64{{1, 1}}},
		{"job": id, "input": cat, "points": [][]float64{{1, 1}}},
		{"input": cat, "prompts": map[string]any{"objects": []any{map[string]any{"mask": "/x.png"}}}},
		{"input": cat, "points": [][]float64{{300, 170, 0}}}, // negative clicks alone, no SAM model
		{"input": cat, "points": [][]float64{{9000, 170}}},
	} {
		if _, code := seg(bad); code != http.StatusBadRequest {
			t.Errorf("segment %v: %d, want 400", bad, code)
		}
	}
	_, met := ts.do("GET", "/metrics", nil)
	if !strings.Contains(string(met), `samtrack_segment_frame_cache_total{result="hit"}`) {
		t.Error("metrics lack the segment cache")
	}
}

// TestSegmentSAMEmbeddingCache: with a SAM model (generated ONNX models
// with the real layouts), repeated clicks on one frame encode it once.
func TestSegmentSAMEmbeddingCache(t *testing.T) {
	needVideos(t)
	dir := t.TempDir()
	paths, err := testgen.WriteDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "samtrack.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("sam:\n  encoder: %s\n  decoder: %s\n", paths.SAMEncoder, paths.SAMDecoder)), 0o644)
	ts := startServer(t, Options{ConfigFile: cfg})
	cat := abs(t, catMP4)
	var docs []segmentDoc
	for i, body := range []map[string]any{
		{"input": cat, "frame": 2, "points": [][]float64{{300, 170, 1}}},
		{"input": cat, "frame": 2, "points": [][]float64{{300, 170, 1}, {50, 40, 0}}},
		{"input": cat, "frame": 2, "box": []float64{200, 60, 420, 310}},
		{"input": cat, "frame": 3, "points": [][]float64{{300, 170, 1}}},
	} {
		code, b := ts.do("POST", "/api/v1/segment", body)
		if code == http.StatusInternalServerError && strings.Contains(string(b), "onnxruntime") {
			testenv.Missing(t, "ONNX Runtime is not installed: %s", b)
		}
		var d segmentDoc
		if code != 200 || json.Unmarshal(b, &d) != nil || len(d.Annotations) != 1 {
			t.Fatalf("request %d: %d %s", i, code, b)
		}
		docs = append(docs, d)
	}
	if docs[0].Cached || !docs[1].Cached || !docs[2].Cached || docs[3].Cached {
		t.Errorf("cached flags %v %v %v %v, want false true true false", docs[0].Cached, docs[1].Cached, docs[2].Cached, docs[3].Cached)
	}
	_, met := ts.do("GET", "/metrics", nil)
	for _, want := range []string{`samtrack_segment_embedding_cache_total{result="hit"} 2`, `samtrack_segment_embedding_cache_total{result="miss"} 2`} {
		if !strings.Contains(string(met), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	t.Logf("segmenter %s: first click %d ms (decode + encode), next clicks %d and %d ms (cached embedding), new frame %d ms",
		docs[0].Segmenter, docs[0].ElapsedMS, docs[1].ElapsedMS, docs[2].ElapsedMS, docs[3].ElapsedMS)
}

// TestUploadJob: a job created with an uploaded video (multipart) and a
// prompt mask sent as a data URL runs; deleting the job removes the upload.
func TestUploadJob(t *testing.T) {
	needVideos(t)
	ts := startServer(t, Options{AllowDirs: []string{}})
	video, err := os.ReadFile(catMP4)
	if err != nil {
		t.Fatal(err)
	}
	// A mask of the frame size: a rectangle on the cat.
	m := image.NewGray(image.Rect(0, 0, 568, 320))
	for y := 100; y < 300; y++ {
		for x := 220; x < 400; x++ {
			m.Pix[y*m.Stride+x] = 1
		}
	}
	var pb bytes.Buffer
	png.Encode(&pb, m)
	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pb.Bytes())

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "my cat.mp4")
	fw.Write(video)
	jobJSON, _ := json.Marshal(map[string]any{
		"prompts": map[string]any{"objects": []any{map[string]any{"id": 3, "mask": dataURL}}},
		"options": map[string]any{"video.max_frames": 20, "track.overlay": false},
	})
	mw.WriteField("job", string(jobJSON))
	mw.Close()
	code, body := ts.doHeader("POST", "/api/v1/jobs", buf.Bytes(), http.Header{"Content-Type": {mw.FormDataContentType()}})
	if code != http.StatusCreated {
		t.Fatalf("multipart job: %d %s", code, body)
	}
	var v JobView
	json.Unmarshal(body, &v)
	if !strings.HasPrefix(v.Input, "upload:") {
		t.Errorf("input %q", v.Input)
	}
	v = ts.waitJob(v.ID, 30*time.Second, "finish", finished)
	if v.State != StateDone || v.FramesDone != 20 || len(v.Objects) != 1 || v.Objects[0].ID != 3 {
		t.Fatalf("job: %s %d frames %+v %q", v.State, v.FramesDone, v.Objects, v.Error)
	}
	if ents, _ := os.ReadDir(filepath.Join(ts.data, "uploads")); len(ents) != 1 {
		t.Fatalf("uploads: %d entries", len(ents))
	}
	// A file path is refused: no --allow-dir.
	if code, _ := ts.do("POST", "/api/v1/jobs", pointJob(abs(t, catMP4), 1, 1, nil)); code != http.StatusForbidden {
		t.Errorf("file input without --allow-dir: %d, want 403", code)
	}
	if code, _ := ts.do("DELETE", "/api/v1/jobs/"+v.ID, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if ents, _ := os.ReadDir(filepath.Join(ts.data, "uploads")); len(ents) != 0 {
		t.Errorf("the job's upload was not deleted with it")
	}

	// Upload first, then use upload:ID for a frame and a job.
	buf.Reset()
	mw = multipart.NewWriter(&buf)
	fw, _ = mw.CreateFormFile("file", "cat.mp4")
	fw.Write(video)
	mw.Close()
	code, body = ts.doHeader("POST", "/api/v1/uploads", buf.Bytes(), http.Header{"Content-Type": {mw.FormDataContentType()}})
	var up struct{ ID, Input string }
	if code != http.StatusCreated || json.Unmarshal(body, &up) != nil || up.Input != "upload:"+up.ID {
		t.Fatalf("upload: %d %s", code, body)
	}
	if code, _ := ts.do("GET", "/api/v1/frame.jpg?input="+up.Input+"&frame=5", nil); code != 200 {
		t.Errorf("frame of an upload: %d", code)
	}
	if code, _ := ts.do("GET", "/api/v1/frame.jpg?input=upload:0000000000000000dead", nil); code != 404 {
		t.Errorf("frame of a missing upload: %d, want 404", code)
	}
	if code, _ := ts.do("DELETE", "/api/v1/uploads/"+up.ID, nil); code != http.StatusNoContent {
		t.Errorf("delete upload: %d", code)
	}
}
