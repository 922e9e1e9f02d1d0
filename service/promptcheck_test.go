package service

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCreateJobChecksPromptsAgainstFrame (issue 9, item 4): a prompt
// outside the input's picture is refused when the job is created (400 with
// the reason), not accepted and failed after it has been queued; a box
// reaching partly outside is accepted (the job clips it).
func TestCreateJobChecksPromptsAgainstFrame(t *testing.T) {
	needVideos(t)
	ts := startServer(t, Options{})
	input := abs(t, blackswanMP4) // 854x480
	cases := []struct {
		name   string
		object map[string]any
		want   string
	}{
		{"point right of the picture", map[string]any{"id": 1, "points": [][]float64{{900, 100, 1}}}, "outside the 854x480 picture"},
		{"box wholly below the picture", map[string]any{"id": 1, "box": []float64{100, 500, 300, 700}}, "wholly outside the 854x480 picture"},
		{"point on a later frame", map[string]any{"id": 2, "frame": 5, "points": [][]float64{{10, 481, 1}}}, "outside the 854x480 picture"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.do("POST", "/api/v1/jobs", map[string]any{"input": input,
				"prompts": map[string]any{"objects": []any{tc.object}}})
			if code != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
				t.Errorf("create job: %d %s; want 400 saying %q", code, body, tc.want)
			}
		})
	}
	code, body := ts.do("GET", "/api/v1/jobs", nil)
	if code != http.StatusOK || strings.Contains(string(body), `"id"`) {
		t.Errorf("refused jobs were queued: %d %s", code, body)
	}
	id := ts.createJob(map[string]any{"input": input, "options": map[string]any{"video.max_frames": 3, "track.overlay": false},
		"prompts": map[string]any{"objects": []any{map[string]any{"id": 1, "box": []float64{300, -50, 600, 400}}}}})
	if v := ts.waitJob(id, 60*time.Second, "the job to finish", finished); v.State != StateDone {
		t.Errorf("a box partly outside the picture: job %s, error %q; want done (clipped)", v.State, v.Error)
	}
}
