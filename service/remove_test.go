package service

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samtrack/internal/synthclip"
)

// TestRemoveJob tracks the synthetic square from its frame-0 mask as a
// job, removes it with a remove job made from the finished one, and checks
// the served video like the CLI's acceptance test.
func TestRemoveJob(t *testing.T) {
	c := synthclip.Default()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.mp4")
	if err := c.Write(synthclip.Tool(t, "ffmpeg"), in); err != nil {
		t.Fatal(err)
	}
	png, err := c.FirstLabels()
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{AllowDirs: []string{dir}})
	id := ts.createJob(map[string]any{"input": in,
		"prompts": map[string]any{"mask": "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}})

	// Not before the tracking is done.
	if v := ts.job(id); v.State != StateDone {
		if code, body := ts.do("POST", "/api/v1/jobs/"+id+"/remove", nil); code != http.StatusConflict && ts.job(id).State != StateDone {
			t.Errorf("remove on a %s job: %d %s, want 409", v.State, code, body)
		}
	}
	if v := ts.waitJob(id, 2*time.Minute, "tracking done", finished); v.State != StateDone {
		t.Fatalf("tracking job: %s %s", v.State, v.Error)
	}
	if code, _ := ts.do("GET", "/api/v1/jobs/"+id+"/removed.mp4", nil); code != http.StatusNotFound {
		t.Errorf("removed.mp4 of a tracking job: %d, want 404", code)
	}
	if code, body := ts.do("POST", "/api/v1/jobs/"+id+"/remove", map[string]any{"window": 9999}); code != http.StatusBadRequest {
		t.Errorf("remove with window 9999: %d %s, want 400", code, body)
	}
	code, body := ts.do("POST", "/api/v1/jobs/"+id+"/remove", map[string]any{"ids": []int{1}})
	if code != http.StatusCreated {
		t.Fatalf("remove: %d %s", code, body)
	}
	var rv JobView
	if err := json.Unmarshal(body, &rv); err != nil || rv.Remove == nil || rv.Remove.From != id {
		t.Fatalf("remove job view: %v %s", err, body)
	}
	if v := ts.waitJob(rv.ID, 3*time.Minute, "removal done", finished); v.State != StateDone || v.FramesDone != c.Frames {
		t.Fatalf("remove job: %s, %d frames, %s", v.State, v.FramesDone, v.Error)
	} else if v.FPS <= 0 {
		t.Errorf("remove job done with fps %v, want its rate", v.FPS)
	}
	if code, _ := ts.do("POST", "/api/v1/jobs/"+rv.ID+"/remove", nil); code != http.StatusConflict {
		t.Errorf("remove from a remove job: %d, want 409", code)
	}
	// Nor from a tracking job that skipped frames (every second one).
	strided := ts.createJob(map[string]any{"input": in, "options": map[string]any{"video.stride": 2},
		"prompts": map[string]any{"mask": "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}})
	if v := ts.waitJob(strided, 2*time.Minute, "strided tracking done", finished); v.State != StateDone {
		t.Fatalf("strided tracking job: %s %s", v.State, v.Error)
	}
	if code, body := ts.do("POST", "/api/v1/jobs/"+strided+"/remove", nil); code != http.StatusConflict || !strings.Contains(string(body), "video.stride 2") {
		t.Errorf("remove from a job with video.stride 2: %d %s, want 409 naming the stride", code, body)
	}
	code, video := ts.do("GET", "/api/v1/jobs/"+rv.ID+"/removed.mp4", nil)
	if code != http.StatusOK {
		t.Fatalf("removed.mp4: %d %s", code, video)
	}
	out := filepath.Join(dir, "served.mp4")
	if err := os.WriteFile(out, video, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Measure(synthclip.Tool(t, "ffprobe"), in, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if rep.FillMAE >= 3 {
		t.Errorf("MAE %.2f/255 in the filled region, want < 3", rep.FillMAE)
	}
}
