package pipeline

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"samtrack/config"
	"samtrack/internal/testenv"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/tracker/flow"
	"samtrack/video"
)

const (
	blackswanMP4  = "../../shared/data/videos/blackswan.mp4"
	blackswanMask = "../../shared/data/davis/Annotations/480p/blackswan/00000.png"
)

// ffmpegNullFPS times `ffmpeg -threads 2 -i F -an -f null -`, the baseline
// every figure here is divided by. It takes the best of a few runs.
func ffmpegNullFPS(b *testing.B, file string, frames int) float64 {
	b.Helper()
	best := time.Duration(1 << 62)
	for i := 0; i < 3; i++ {
		start := time.Now()
		out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-threads", "2", "-i", file, "-an", "-f", "null", "-").CombinedOutput()
		if err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		best = min(best, time.Since(start))
	}
	return float64(frames) / best.Seconds()
}

func decodeAll(b *testing.B, file string) []media.Frame {
	b.Helper()
	src, err := video.Open(context.Background(), file, video.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var frames []media.Frame
	for {
		f, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, f)
	}
}

// BenchmarkBlackswan measures, in one run on blackswan (854x480, 50
// frames): plain `ffmpeg -f null` decoding (the baseline), the built-in
// propagator's step alone, and `samtrack track` end to end (decode,
// propagate, PNG and JSON writing), without and with the overlay video.
//
//	go test -run '^$' -bench Blackswan -benchtime 3x ./pipeline
func BenchmarkBlackswan(b *testing.B) {
	if _, err := os.Stat(blackswanMP4); err != nil {
		testenv.Missing(b, "shared data missing: %v", err)
	}
	frames := decodeAll(b, blackswanMP4)
	first, err := mask.ReadLabelPNGFile(blackswanMask)
	if err != nil {
		b.Fatal(err)
	}
	base := ffmpegNullFPS(b, blackswanMP4, len(frames))

	stepFPS := func() float64 {
		p, err := flow.New(flow.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		ctx := context.Background()
		if err := p.AddReference(ctx, frames[0], first); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for _, f := range frames[1:] {
			if _, err := p.Propagate(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
		return float64(len(frames)-1) / time.Since(start).Seconds()
	}
	endToEnd := func(overlay bool) float64 {
		c := config.Default()
		c.Track.Overlay = overlay
		out := filepath.Join(b.TempDir(), "out")
		start := time.Now()
		sum, err := Run(context.Background(), Spec{Input: blackswanMP4, Out: out, Prompts: Prompts{Mask: blackswanMask}, Config: c}, Hooks{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		return float64(sum.FramesDone) / time.Since(start).Seconds()
	}
	var step, e2e, e2eOverlay float64
	for i := 0; i < b.N; i++ {
		step = max(step, stepFPS())
		e2e = max(e2e, endToEnd(false))
		e2eOverlay = max(e2eOverlay, endToEnd(true))
	}
	b.ReportMetric(base, "ffmpeg-null-fps")
	b.ReportMetric(step, "step-fps")
	b.ReportMetric(e2e, "track-fps")
	b.ReportMetric(e2eOverlay, "track+overlay-fps")
	b.ReportMetric(step/base, "step/ffmpeg")
	b.ReportMetric(e2e/base, "track/ffmpeg")
	b.ReportMetric(e2eOverlay/base, "track+overlay/ffmpeg")
}
