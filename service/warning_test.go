package service

import (
	"strings"
	"testing"
	"time"
)

// TestJobWarnsOnTinyPrompt: a prompt whose mask is smaller than
// track.min_area (a 4x4 box on the bundled sample video) reaches the job's
// event stream as a "warning" event naming the object, the frame and the
// reason.
func TestJobWarnsOnTinyPrompt(t *testing.T) {
	ts := startServer(t, Options{AllowDirs: []string{abs(t, "../testdata")}})
	id := ts.createJob(map[string]any{
		"input":   abs(t, "../testdata/sample.mp4"),
		"prompts": map[string]any{"objects": []any{map[string]any{"id": 1, "box": []float64{20, 20, 24, 24}}}},
		"options": map[string]any{"video": map[string]any{"max_frames": 3}},
	})
	ev := ts.subscribe(id)
	w := ev.wait(t, "warning", 60*time.Second, nil)
	if w.Data["id"] != float64(1) || w.Data["frame"] != float64(0) || !strings.Contains(w.Data["detail"].(string), "below track.min_area (200)") {
		t.Errorf("warning event %v, want object 1 on frame 0 below track.min_area", w.Data)
	}
	ts.waitJob(id, 60*time.Second, "finished", finished)
}
