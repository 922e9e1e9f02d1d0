package pipeline

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"samtrack/config"
	"samtrack/internal/rtsptest"
	"samtrack/internal/testenv"
	"samtrack/media"
	"samtrack/tracker"
)

// TestLiveLatencyBounded is issue 4's bounded-latency check on the whole
// pipeline: a live RTSP job whose per-frame work (propagation plus a 70 ms
// stall standing in for a slow propagator) is slower than the stream's
// 33 ms frame interval. Every processed frame must be at most 2 frame
// intervals behind the newest decoded frame, stale frames must be dropped,
// and the decode queue must stay within its bound.
func TestLiveLatencyBounded(t *testing.T) {
	const cat = "../../shared/data/videos/cat.mp4"
	if _, err := os.Stat(cat); err != nil {
		testenv.Missing(t, "shared test video missing: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		testenv.Missing(t, "the ffmpeg binary is needed to publish the test stream")
	}
	url := rtsptest.NewRig(t, cat, 15*time.Second).URL

	c := config.Default()
	c.Track.Overlay = false
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	processed, worst := 0, 0
	sum, err := Run(runCtx, Spec{
		Input:   url,
		Out:     filepath.Join(t.TempDir(), "out"),
		Prompts: Prompts{Objects: []ObjectPrompt{{ID: 1, Points: [][]float64{{300, 170, 1}}}}},
		Config:  c,
	}, Hooks{
		Logger: quietLogger(),
		OnFrame: func(p Progress, f media.Frame, _ *tracker.FrameResult) {
			processed++
			worst = max(worst, p.Latency)
			if p.Latency > 2 {
				t.Errorf("frame %d was processed %d frames behind the newest decoded frame", f.Index, p.Latency)
			}
			time.Sleep(70 * time.Millisecond) // slower than the 33 ms frame interval
			if processed == 40 {
				stop()
			}
		},
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("live run: %v", err)
	}
	st := sum.Live
	t.Logf("processed %d frames; worst latency %d frames; decoded %d, dropped %d, peak queue %d of %d",
		processed, worst, st.Decoded, st.Dropped, st.MaxQueue, st.Buffer)
	if processed < 40 {
		t.Fatalf("only %d frames processed", processed)
	}
	if st.Dropped == 0 {
		t.Error("a consumer slower than the stream dropped no stale frame")
	}
	if st.MaxQueue > st.Buffer || st.Buffer > 2 {
		t.Errorf("decode queue peaked at %d with a bound of %d", st.MaxQueue, st.Buffer)
	}
}
