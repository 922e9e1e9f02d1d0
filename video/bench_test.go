package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

var benchRE = regexp.MustCompile(`utime=([0-9.]+)s stime=([0-9.]+)s rtime=([0-9.]+)s`)

// ffRun is one timed ffmpeg run.
type ffRun struct {
	wall, procCPU time.Duration // whole process
	loop, loopCPU time.Duration // decode loop as reported by -benchmark
}

// cpuTime returns the CPU time used so far by this process, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ffmpegDecode runs `ffmpeg -threads T -i F -an -f null -` once with
// -benchmark and returns its timings.
func ffmpegDecode(b *testing.B, bin, file string, threads int) ffRun {
	b.Helper()
	cmd := exec.Command(bin, "-hide_banner", "-nostdin", "-benchmark", "-threads", strconv.Itoa(threads),
		"-i", file, "-an", "-f", "null", "-")
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	r := ffRun{wall: time.Since(t0)}
	if err != nil {
		b.Fatalf("%v: %v\n%s", cmd, err, out)
	}
	r.procCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	m := benchRE.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no timings in ffmpeg -benchmark output:\n%s", out)
	}
	sec := func(i int) time.Duration {
		v, _ := strconv.ParseFloat(string(m[i]), 64)
		return time.Duration(v * float64(time.Second))
	}
	r.loopCPU = sec(1) + sec(2)
	r.loop = sec(3)
	return r
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkDecode decodes every frame of a file to RGB24 (Open, Next until
// io.EOF with each frame handed back through Source.Recycle, Close) and, in the same run, times the ffmpeg binary decoding the
// same file with `ffmpeg -benchmark -threads T -i F -an -f null -` (decode
// only, no pixel conversion), one ffmpeg run before each of ours so both see
// the same machine load. Metrics, medians over the b.N rounds, ratios are
// ours/ffmpeg throughput (>1: we are faster):
//
//	fps, ffmpeg_fps  wall-clock frames per second (ffmpeg: whole process)
//	ratio            fps / ffmpeg_fps
//	ratio_loop       against ffmpeg's own decode-loop time (-benchmark rtime:
//	                 no process start-up or probing, which ours includes)
//	cpu_ratio        CPU time (all threads) against the ffmpeg process
//	cpu_ratio_loop   CPU time against ffmpeg's loop (utime+stime)
//	fps_norecycle, ratio_norecycle  the same without Recycle (a new buffer
//	                 per frame, as a caller that keeps every frame gets)
//
// The CPU ratios are the stable ones on a shared, loaded machine.
func BenchmarkDecode(b *testing.B) {
	for _, file := range []string{blackswanMP4, catMP4} {
		for _, threads := range []int{1, 2} {
			name := fmt.Sprintf("%s/threads=%d", filepath.Base(file), threads)
			b.Run(name, func(b *testing.B) {
				need(b, file)
				bin := ffmpegBin(b)

				// Interleave the baseline with our runs so that both see the
				// same machine load; compare medians.
				ffmpegDecode(b, bin, file, threads) // warm the page cache
				var ff []ffRun
				var mine, mineCPU, alloc []time.Duration
				frames := 0
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					ff = append(ff, ffmpegDecode(b, bin, file, threads))
					t0 := time.Now()
					decodeAll(b, file, Options{Threads: threads}, false)
					alloc = append(alloc, time.Since(t0))
					b.StartTimer()
					t0, c0 := time.Now(), cpuTime()
					frames = decodeAll(b, file, Options{Threads: threads}, true)
					mine = append(mine, time.Since(t0))
					mineCPU = append(mineCPU, cpuTime()-c0)
				}
				b.StopTimer()

				pick := func(f func(ffRun) time.Duration) time.Duration {
					var d []time.Duration
					for _, r := range ff {
						d = append(d, f(r))
					}
					return median(d)
				}
				fps := func(d time.Duration) float64 { return float64(frames) / d.Seconds() }
				ours := fps(median(mine))
				b.ReportMetric(ours, "fps")
				b.ReportMetric(fps(pick(func(r ffRun) time.Duration { return r.wall })), "ffmpeg_fps")
				b.ReportMetric(ours/fps(pick(func(r ffRun) time.Duration { return r.wall })), "ratio")
				b.ReportMetric(ours/fps(pick(func(r ffRun) time.Duration { return r.loop })), "ratio_loop")
				b.ReportMetric(fps(median(alloc)), "fps_norecycle")
				b.ReportMetric(fps(median(alloc))/fps(pick(func(r ffRun) time.Duration { return r.wall })), "ratio_norecycle")
				oursCPU := fps(median(mineCPU))
				b.ReportMetric(oursCPU/fps(pick(func(r ffRun) time.Duration { return r.procCPU })), "cpu_ratio")
				b.ReportMetric(oursCPU/fps(pick(func(r ffRun) time.Duration { return r.loopCPU })), "cpu_ratio_loop")
			})
		}
	}
}

// decodeAll decodes file to the end; with recycle it hands every frame back
// with Source.Recycle, as a streaming consumer does.
func decodeAll(b *testing.B, file string, opts Options, recycle bool) int {
	s, err := Open(context.Background(), file, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	n := 0
	for {
		f, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		if recycle {
			s.Recycle(f)
		}
		n++
	}
}

// BenchmarkEXIFOrientation: what reading each JPEG frame's EXIF orientation
// (open the file, read its header segments) adds to reading a folder of
// frames, against decoding that folder in the same rounds (DAVIS dog, 60
// frames of 854x480). Metrics: orientation_ms and decode_ms per round
// (medians), share = orientation / decode.
func BenchmarkEXIFOrientation(b *testing.B) {
	need(b, dogJPEG)
	entries, err := os.ReadDir(dogJPEG)
	if err != nil {
		b.Fatal(err)
	}
	var orient, dec []time.Duration
	for range b.N {
		t0 := time.Now()
		for _, e := range entries {
			fileOrientation(filepath.Join(dogJPEG, e.Name()))
		}
		orient = append(orient, time.Since(t0))
		t0 = time.Now()
		decodeAll(b, dogJPEG, Options{}, true)
		dec = append(dec, time.Since(t0))
	}
	o, d := median(orient), median(dec)
	b.ReportMetric(float64(o.Microseconds())/1000, "orientation_ms")
	b.ReportMetric(float64(d.Microseconds())/1000, "decode_ms")
	b.ReportMetric(o.Seconds()/d.Seconds(), "share")
}
