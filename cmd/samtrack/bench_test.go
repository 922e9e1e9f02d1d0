package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkMaxSide4K measures what video.max_side saves on a 4K clip:
// tracking speed and peak RSS of `samtrack track` (built-in propagator,
// GrabCut-free: the first-frame mask is given, no overlay) at full size and
// under working-size caps, against decoding the same clip with
// `ffmpeg -f null` in the same run. The clip is blackswan.mp4 scaled to
// 3840x2160 (30 frames).
//
//	go test -run '^$' -bench MaxSide4K -benchtime 1x ./cmd/samtrack
func BenchmarkMaxSide4K(b *testing.B) {
	dir := b.TempDir()
	clip := filepath.Join(dir, "4k.mp4")
	first := filepath.Join(dir, "first.png")
	for _, args := range [][]string{
		{"-i", blackswanMP4, "-frames:v", "30", "-vf", "scale=3840:2160", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", clip},
		{"-i", davis + "/Annotations/480p/blackswan/00000.png", "-vf", "scale=3840:2160:flags=neighbor,format=gray", first},
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}
	const frames = 30
	timeRun := func(name string, args ...string) (time.Duration, int64) {
		cmd := exec.Command(name, args...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return time.Since(start), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	}
	for i := 0; i < b.N; i++ {
		dec, _ := timeRun("ffmpeg", "-v", "error", "-nostdin", "-i", clip, "-an", "-f", "null", "-")
		decFPS := frames / dec.Seconds()
		b.Logf("ffmpeg -f null: %.1f fps", decFPS)
		var fullFPS float64
		for _, side := range []int{0, 1920, 1280} {
			d, rss := timeRun(binary, "track", clip, "--mask", first, "--overlay=false", "--max-side", strconv.Itoa(side),
				"--out", filepath.Join(dir, fmt.Sprintf("out%d", side)), "--overwrite")
			fps := frames / d.Seconds()
			if side == 0 {
				fullFPS = fps
			}
			b.Logf("max-side %4d: %.2f fps (%.3f of ffmpeg decode, %.1fx full size), peak RSS %d MB", side, fps, fps/decFPS, fps/fullFPS, rss/1024)
			b.ReportMetric(fps/fullFPS, fmt.Sprintf("speedup_%d", side))
			b.ReportMetric(float64(rss/1024), fmt.Sprintf("rssMB_%d", side))
		}
	}
}
