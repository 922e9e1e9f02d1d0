package service

import (
	"strings"
	"testing"
	"time"
)

// TestJobBothDirections: a job whose only prompt is on a later frame tracks
// the object back to the start (track.direction auto), like `samtrack
// track`, and its results hold every frame and no leftover of the backward
// pass.
func TestJobBothDirections(t *testing.T) {
	needVideos(t)
	ts := startServer(t, Options{})
	const frames, prompt = 60, 40
	id := ts.createJob(map[string]any{
		"input":   abs(t, catMP4),
		"prompts": map[string]any{"objects": []any{map[string]any{"id": 3, "frame": prompt, "box": []float64{20, 40, 180, 300}}}},
		"options": map[string]any{"video.max_frames": frames},
	})
	v := ts.waitJob(id, 90*time.Second, "finish", finished)
	if v.State != StateDone || v.FramesDone != frames || v.Error != "" {
		t.Fatalf("job ended %s after %d frames: %q", v.State, v.FramesDone, v.Error)
	}
	if len(v.Objects) != 1 || v.Objects[0].ID != 3 || v.Objects[0].FirstFrame >= prompt {
		t.Fatalf("objects %+v: want object 3, prompted on frame %d, starting before it", v.Objects, prompt)
	}
	t.Logf("object 3, prompted on frame %d, starts on frame %d", prompt, v.Objects[0].FirstFrame)
	files := readZip(t, ts, id)
	masks := 0
	for name := range files {
		if strings.HasPrefix(name, "masks/") {
			masks++
		}
		if strings.HasPrefix(name, "backward/") {
			t.Errorf("results.zip holds %s: the backward pass's labels were left behind", name)
		}
	}
	if masks != frames {
		t.Errorf("results.zip holds %d masks, want %d", masks, frames)
	}
}
