package service

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samtrack/internal/testimg"
)

// multipartFile is a multipart body with one "file" part (and, when job is
// not nil, a "job" part).
func multipartFile(t *testing.T, name string, data []byte, job map[string]any) ([]byte, http.Header) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	if job != nil {
		b, _ := json.Marshal(job)
		mw.WriteField("job", string(b))
	}
	mw.Close()
	return buf.Bytes(), http.Header{"Content-Type": {mw.FormDataContentType()}}
}

// TestUploadProbe: an upload is probed when it arrives; what FFmpeg cannot
// open as a video or image is refused with 415 and the reason, a picture
// over video.max_pixels with 413, and nothing is kept.
func TestUploadProbe(t *testing.T) {
	ts := startServer(t, Options{AllowDirs: []string{}})
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("clip.mp4")
	sample, err := os.ReadFile(sampleMP4)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(sample)
	zw.Close()
	prompts := map[string]any{"prompts": map[string]any{"objects": []any{map[string]any{"id": 1, "points": [][]float64{{10, 10}}}}}}
	cases := []struct {
		name string
		data []byte
		want int
		msg  string
	}{
		{"clip.zip", zb.Bytes(), http.StatusUnsupportedMediaType, "not a video or an image"},
		{"notes.txt", []byte("this is text, not a video\n"), http.StatusUnsupportedMediaType, "not a video or an image"},
		{"renamed.mp4", []byte("this is text, not a video\n"), http.StatusUnsupportedMediaType, "renamed.mp4"},
		{"bomb.png", testimg.HugePNG(20000, 20000), http.StatusRequestEntityTooLarge, "video.max_pixels"},
		{"sample.mp4", sample, http.StatusCreated, ""},
	}
	for _, tc := range cases {
		for _, route := range []string{"/api/v1/uploads", "/api/v1/jobs"} {
			t.Run(tc.name+" "+route, func(t *testing.T) {
				var job map[string]any
				if route == "/api/v1/jobs" {
					job = prompts
				}
				body, hdr := multipartFile(t, tc.name, tc.data, job)
				code, out := ts.doHeader("POST", route, body, hdr)
				if code != tc.want {
					t.Fatalf("%d %s; want %d", code, out, tc.want)
				}
				if tc.msg != "" {
					if msg := errorOf(t, out); !strings.Contains(msg, tc.msg) {
						t.Errorf("error %q does not say %q", msg, tc.msg)
					}
				}
				if code != http.StatusCreated {
					t.Logf("%d %s", code, bytes.TrimSpace(out))
				}
			})
		}
	}
	ents, _ := os.ReadDir(filepath.Join(ts.data, "uploads"))
	if len(ents) != 2 { // the two accepted sample uploads
		t.Errorf("uploads/ holds %d entries; want the 2 accepted ones", len(ents))
	}
}

// TestJobPromptLimit: a job with 10,000 objects is refused with 400 at
// once; a job at the configured limit runs; a client cannot raise it.
func TestJobPromptLimit(t *testing.T) {
	ts := startServer(t, Options{Environ: []string{"SAMTRACK_TRACK_MAX_PROMPTS=2"}, AllowDirs: []string{abs(t, "../testdata")}})
	big := startServer(t, Options{AllowDirs: []string{abs(t, "../testdata")}})
	input := abs(t, sampleMP4)
	objects := func(n int) []any {
		objs := make([]any, n)
		for i := range objs {
			objs[i] = map[string]any{"id": i + 1, "points": [][]float64{{float64(10 + i%600), float64(10 + i/600%340)}}}
		}
		return objs
	}
	job := func(n int, opts map[string]any) map[string]any {
		return map[string]any{"input": input, "prompts": map[string]any{"objects": objects(n)}, "options": opts}
	}
	raw, _ := json.Marshal(job(10000, nil))
	start := time.Now()
	code, body := big.do("POST", "/api/v1/jobs", raw)
	took := time.Since(start)
	t.Logf("10,000 objects (%d KB): %d in %v: %s", len(raw)>>10, code, took, errorOf(t, body))
	if code != http.StatusBadRequest || !strings.Contains(errorOf(t, body), "track.max_prompts") {
		t.Errorf("10,000 objects: %d %s; want 400 naming track.max_prompts", code, body)
	}
	if took > 2*time.Second {
		t.Errorf("refusing 10,000 objects took %v; want under 2 s", took)
	}

	id := ts.createJob(job(2, map[string]any{"video.max_frames": 2, "track.overlay": false}))
	if v := ts.waitJob(id, 60*time.Second, "the job to end", finished); v.State != StateDone || len(v.Objects) != 2 {
		t.Errorf("2 prompts at a limit of 2: state %s, %d objects, error %q", v.State, len(v.Objects), v.Error)
	}
	if code, body := ts.do("POST", "/api/v1/jobs", job(3, nil)); code != http.StatusBadRequest {
		t.Errorf("3 prompts over a limit of 2: %d %s; want 400", code, body)
	}
	for _, key := range []string{"track.max_prompts", "track.max_frame_prompts", "video.max_pixels"} {
		code, body := ts.do("POST", "/api/v1/jobs", job(1, map[string]any{key: 100000}))
		if code != http.StatusBadRequest || !strings.Contains(errorOf(t, body), "server's setting") {
			t.Errorf("option %s per job: %d %s; want 400", key, code, body)
		}
	}
	// Prompts added to a running job count too.
	id = ts.createJob(job(2, map[string]any{"video.max_frames": 60, "track.overlay": false}))
	code, body = ts.do("POST", "/api/v1/jobs/"+id+"/prompts", map[string]any{"id": 9, "points": [][]float64{{50, 50}}})
	if code != http.StatusBadRequest && code != http.StatusConflict {
		t.Errorf("a third prompt added to a job at its limit: %d %s; want 400 (or 409 if it already ended)", code, body)
	}
	ts.waitJob(id, 120*time.Second, "the job to end", finished)
}

// TestFailedJobErrorIsPublic: a job that fails shows its reason without the
// server's paths or command-line advice, and /api/v1/inputs names allowed
// folders as configured.
func TestFailedJobErrorIsPublic(t *testing.T) {
	link := filepath.Join(t.TempDir(), "clips")
	if err := os.Symlink(abs(t, "../testdata"), link); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{AllowDirs: []string{link}})
	v := ts.uploadJob(t, "sample.mp4", mustRead(t, sampleMP4), map[string]any{"id": 1, "frame": 100000, "points": [][]float64{{150, 120}}})
	if v.State != StateFailed || !strings.Contains(v.Error, "past the end: the input has 60 frames") {
		t.Errorf("state %s, error %q; want failed naming the frame count", v.State, v.Error)
	}
	if strings.Contains(v.Error, "--") {
		t.Errorf("the job error gives command-line advice: %s", v.Error)
	}
	t.Logf("job error: %s", v.Error)

	code, out := ts.do("GET", "/api/v1/inputs", nil)
	real, _ := filepath.EvalSymlinks(link)
	if code != 200 || strings.Contains(string(out), real) || !strings.Contains(string(out), link) {
		t.Errorf("inputs: %d %s; want %s named as configured, never as %s", code, out, link, real)
	}
	code, out = ts.do("POST", "/api/v1/jobs", pointJob("/etc/passwd", 1, 1, nil))
	if code != http.StatusForbidden || strings.Contains(string(out), real) || !strings.Contains(string(out), link) {
		t.Errorf("outside: %d %s; want the allowed folder named %s", code, out, link)
	}
}

// TestTruncatedUploadErrorIsPublic: a job on an upload that ends early
// fails with an error that names the upload and the job, not the server's
// files.
func TestTruncatedUploadErrorIsPublic(t *testing.T) {
	needVideos(t)
	ts := startServer(t, Options{AllowDirs: []string{}})
	cat := mustRead(t, catMP4)
	v := ts.uploadJob(t, "cat.mp4", cat[:len(cat)*6/10], map[string]any{"id": 1, "points": [][]float64{{300, 170}}})
	if v.State != StateFailed || !strings.Contains(v.Error, v.Input) || !strings.Contains(v.Error, "truncated") {
		t.Errorf("state %s, error %q; want failed, naming %s", v.State, v.Error, v.Input)
	}
	if strings.Contains(v.Error, "--resume") {
		t.Errorf("the job error gives command-line advice: %s", v.Error)
	}
	t.Logf("job error: %s", v.Error)
}

// uploadJob creates a job on an uploaded file with one object prompt and
// waits for it to end (waitJob checks its error for the data directory).
func (ts *testServer) uploadJob(t *testing.T, name string, data []byte, object map[string]any) JobView {
	t.Helper()
	body, hdr := multipartFile(t, name, data, map[string]any{
		"prompts": map[string]any{"objects": []any{object}},
		"options": map[string]any{"track.overlay": false},
	})
	code, out := ts.doHeader("POST", "/api/v1/jobs", body, hdr)
	if code != http.StatusCreated {
		t.Fatalf("%d %s", code, out)
	}
	var v JobView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return ts.waitJob(v.ID, 120*time.Second, "the job to end", finished)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
