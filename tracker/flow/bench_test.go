package flow

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// BenchmarkPropagateBlackswan measures Propagate on blackswan (854x480, one
// object, 49 propagated frames) in frames per second, next to a baseline
// measured in the same run: decoding the same 50 JPEG frames from memory
// with OpenCV (libjpeg). x-jpeg-decode is the ratio of the two;
// cpu-ms/frame is the process CPU time (all threads) per propagated frame,
// which a busy machine inflates less than wall time. Sub-benchmarks: the
// default options, and LongPreset medium (more accurate, slower).
func BenchmarkPropagateBlackswan(b *testing.B) {
	s := loadSequence(b, davisRoot, "blackswan")
	jpgs, _ := filepath.Glob(filepath.Join(davisRoot, "JPEGImages/480p/blackswan/*.jpg"))
	sort.Strings(jpgs)
	var blobs [][]byte
	for _, j := range jpgs {
		data, err := os.ReadFile(j)
		if err != nil {
			b.Fatal(err)
		}
		blobs = append(blobs, data)
	}
	// Baseline: JPEG decoding of the same frames, for at least a second.
	decoded, start := 0, time.Now()
	for time.Since(start) < time.Second {
		for _, data := range blobs {
			m, err := gocv.IMDecode(data, gocv.IMReadColor)
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
			decoded++
		}
	}
	decodeFPS := float64(decoded) / time.Since(start).Seconds()

	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"long=medium", Options{LongPreset: PresetMedium}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := New(bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			ctx := context.Background()
			frames := 0
			var elapsed, cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				if err := p.AddReference(ctx, s.frames[0], s.gt[0]); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0, c0 := time.Now(), cpuTime(b)
				for _, f := range s.frames[1:] {
					if _, err := p.Propagate(ctx, f); err != nil {
						b.Fatal(err)
					}
				}
				elapsed += time.Since(t0)
				cpu += cpuTime(b) - c0
				frames += len(s.frames) - 1
			}
			fps := float64(frames) / elapsed.Seconds()
			b.ReportMetric(fps, "fps")
			b.ReportMetric(1000/fps, "ms/frame")
			b.ReportMetric(cpu.Seconds()*1000/float64(frames), "cpu-ms/frame")
			b.ReportMetric(decodeFPS, "jpeg-decode-fps")
			b.ReportMetric(fps/decodeFPS, "x-jpeg-decode")
		})
	}
}

// cpuTime is the user and system CPU time of the whole process, all threads.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
