package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"samtrack/media"
)

// readBackward reads a Reverse to its end.
func readBackward(t testing.TB, src string, last int, opts Options) ([]media.Frame, *Reverse) {
	t.Helper()
	r, err := OpenReverse(context.Background(), src, last, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	var frames []media.Frame
	for {
		f, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return frames, r
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
}

// TestReverseMatchesForward: backwards, every frame has the index, time,
// name and pixels the forward source gives it, whatever the chunk size,
// stride, start and scaling, on H.264 with B-frames and on a directory.
func TestReverseMatchesForward(t *testing.T) {
	need(t, blackswanMP4, catMP4, blackswanJPEG)
	small := 854 * 480 * 3 * 4 // four frames: several chunks per group of pictures
	cases := []struct {
		name string
		src  string
		last int
		opts Options
	}{
		{"blackswan whole", blackswanMP4, 1 << 30, Options{}},
		{"blackswan small chunks", blackswanMP4, 37, Options{ReverseChunkBytes: small}},
		{"blackswan stride start", blackswanMP4, 30, Options{Stride: 3, Start: 400 * time.Millisecond, ReverseChunkBytes: small}},
		{"cat scaled", catMP4, 1 << 30, Options{MaxSide: 320, ReverseChunkBytes: 320 * 180 * 3 * 7}},
		{"directory", blackswanJPEG, 20, Options{Stride: 2, ReverseChunkBytes: small}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { compareReverse(t, c.src, c.last, c.opts) })
	}
}

// TestReverseRotated: a clip with a display matrix comes out upright
// backwards too, and numbered from --start as forwards.
func TestReverseRotated(t *testing.T) {
	need(t, blackswanMP4)
	clip := filepath.Join(t.TempDir(), "rot90.mp4")
	if out, err := exec.Command(ffmpegBin(t), "-v", "error", "-y", "-i", blackswanMP4, "-frames:v", "12", "-c", "copy",
		"-metadata:s:v:0", "rotate=90", clip).CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", clip, err, out)
	}
	compareReverse(t, clip, 9, Options{Start: 100 * time.Millisecond, ReverseChunkBytes: 480 * 854 * 3 * 3})
}

// compareReverse checks that reading src backwards from last gives the
// frames, indices, timestamps and pixels that reading it forwards does.
func compareReverse(t *testing.T, src string, last int, opts Options) {
	t.Helper()
	fwd, _, err := readAll(t, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]media.Frame{}
	top := -1
	for _, f := range fwd {
		if f.Index <= last {
			want[f.Index] = f
			top = max(top, f.Index)
		}
	}
	back, r := readBackward(t, src, last, opts)
	if len(back) != len(want) {
		t.Fatalf("backwards gave %d frames, forwards %d up to frame %d", len(back), len(want), last)
	}
	if back[0].Index != top {
		t.Errorf("first backward frame is %d, want %d", back[0].Index, top)
	}
	for i, b := range back {
		if i > 0 && b.Index >= back[i-1].Index {
			t.Fatalf("frame %d follows %d: not descending", b.Index, back[i-1].Index)
		}
		f, ok := want[b.Index]
		switch {
		case !ok:
			t.Fatalf("backwards gave frame %d, which forwards did not", b.Index)
		case b.PTS != f.PTS || b.Name != f.Name || b.W != f.W || b.H != f.H:
			t.Fatalf("frame %d: backwards %v %q %dx%d, forwards %v %q %dx%d", b.Index, b.PTS, b.Name, b.W, b.H, f.PTS, f.Name, f.W, f.H)
		case !bytes.Equal(b.RGB, f.RGB):
			t.Fatalf("frame %d: pixels differ from the forward decode (PSNR %.1f dB)", b.Index, psnrBuf(b.RGB, f.RGB))
		}
		r.Recycle(b)
	}
	st := r.Stats()
	t.Logf("%d frames backwards, %d decoded (%.2f decodes a frame)", len(back), st.Decoded, float64(st.Decoded)/float64(len(back)))
}

func TestReverseRefusals(t *testing.T) {
	need(t, catMP4)
	ctx := context.Background()
	if _, err := OpenReverse(ctx, "rtsp://127.0.0.1:1/x", 5, Options{}); err == nil || !strings.Contains(err.Error(), "--direction forward") {
		t.Errorf("URL: %v", err)
	}
	if _, err := OpenReverse(ctx, catMP4, -1, Options{}); err == nil {
		t.Error("negative last frame accepted")
	}
	if _, err := OpenReverse(ctx, "/nonexistent.mp4", 5, Options{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := OpenReverse(ctx, catMP4, 5, Options{Start: time.Hour}); err == nil {
		t.Error("a start past the end gave a source")
	}
}

// reverseRSSChild is the environment variable that makes
// TestReverseMemory's child process decode a file and report its peak RSS.
const reverseRSSChild = "SAMTRACK_TEST_REVERSE_RSS"

// TestReverseMemory decodes a generated 10,000-frame video forwards and
// backwards, each in a child process, and compares their peak RSS (VmHWM):
// backwards must stay below 1.2 times forwards, and both must see the same
// frames (an order-independent hash of index and pixels).
func TestReverseMemory(t *testing.T) {
	if mode := os.Getenv(reverseRSSChild); mode != "" {
		reverseRSSChildMain(t, mode)
		return
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "long.mp4")
	// 96x72: 10,000 frames of RGB are 207 MB, several times either
	// process; a group of pictures (250 frames) is 5 MB.
	cmd := exec.Command(ffmpegBin(t), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x72:rate=50",
		"-frames:v", "10000", "-c:v", "libx264", "-preset", "ultrafast", "-g", "250", "-pix_fmt", "yuv420p", file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, out)
	}
	run := func(mode string) (peakKB int, summary string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReverseMemory$", "-test.v")
		cmd.Env = append(os.Environ(), reverseRSSChild+"="+mode+":"+file)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s child: %v\n%s", mode, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if i := strings.Index(line, "RESULT "); i >= 0 {
				f := strings.Fields(line[i:])
				peakKB, _ = strconv.Atoi(f[1])
				return peakKB, strings.Join(f[2:], " ")
			}
		}
		t.Fatalf("%s child printed no result:\n%s", mode, out)
		return 0, ""
	}
	fwdKB, fwd := run("forward")
	backKB, back := run("backward")
	t.Logf("peak RSS forwards %d KB (%s), backwards %d KB (%s): ratio %.3f", fwdKB, fwd, backKB, back, float64(backKB)/float64(fwdKB))
	if fwd != back {
		t.Errorf("forwards saw %s, backwards %s", fwd, back)
	}
	if !strings.HasPrefix(fwd, "frames=10000 ") {
		t.Errorf("forwards decoded %s, want 10000 frames", fwd)
	}
	if float64(backKB) >= 1.2*float64(fwdKB) {
		t.Errorf("backwards peak RSS %d KB is not below 1.2 x forwards' %d KB", backKB, fwdKB)
	}
}

func reverseRSSChildMain(t *testing.T, arg string) {
	mode, file, _ := strings.Cut(arg, ":")
	ctx := context.Background()
	var next func(context.Context) (media.Frame, error)
	var recycle func(media.Frame)
	if mode == "backward" {
		r, err := OpenReverse(ctx, file, 1<<30, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		next, recycle = r.Next, r.Recycle
	} else {
		s, err := Open(ctx, file, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		next, recycle = s.Next, s.Recycle
	}
	n, sum := 0, uint64(0)
	for {
		f, err := next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h := fnv.New64a()
		fmt.Fprint(h, f.Index)
		h.Write(f.RGB)
		sum += h.Sum64()
		n++
		recycle(f)
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Printf("RESULT %s frames=%d hash=%x\n", strings.Fields(line)[1], n, sum)
			return
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
}

// BenchmarkReverseDecode decodes every frame of a file backwards with
// Reverse and, interleaved in the same run, forwards with Source (both to
// RGB24, frames handed back with Recycle). Metrics, medians over b.N rounds:
//
//	ratio      backward wall time / forward wall time
//	cpu_ratio  the same in CPU time (all threads; the stable one under load)
//	decodes    pictures decoded per frame delivered backwards (1: each once)
//
// chunk=8 limits a chunk to 8 frames, so that a group of pictures is decoded
// several times; default uses DefaultReverseChunkBytes.
func BenchmarkReverseDecode(b *testing.B) {
	for _, file := range []string{blackswanMP4, catMP4} {
		for _, chunk := range []int{0, 8} {
			name := fmt.Sprintf("%s/chunk=default", filepath.Base(file))
			if chunk > 0 {
				name = fmt.Sprintf("%s/chunk=%d", filepath.Base(file), chunk)
			}
			b.Run(name, func(b *testing.B) {
				need(b, file)
				info := func() Info {
					s, err := Open(context.Background(), file, Options{})
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					return s.Info()
				}()
				opts := Options{Threads: 2, ReverseChunkBytes: chunk * info.Width * info.Height * 3}
				var fwd, back, fwdCPU, backCPU []time.Duration
				decodes := 0.0
				for range b.N {
					t0, c0 := time.Now(), cpuTime()
					decodeAll(b, file, opts, true)
					fwd, fwdCPU = append(fwd, time.Since(t0)), append(fwdCPU, cpuTime()-c0)
					t0, c0 = time.Now(), cpuTime()
					r, err := OpenReverse(context.Background(), file, 1<<30, opts)
					if err != nil {
						b.Fatal(err)
					}
					for {
						f, err := r.Next(context.Background())
						if errors.Is(err, io.EOF) {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						r.Recycle(f)
					}
					st := r.Stats()
					r.Close()
					back, backCPU = append(back, time.Since(t0)), append(backCPU, cpuTime()-c0)
					decodes = float64(st.Decoded) / float64(st.Delivered)
				}
				b.ReportMetric(float64(median(back))/float64(median(fwd)), "ratio")
				b.ReportMetric(float64(median(backCPU))/float64(median(fwdCPU)), "cpu_ratio")
				b.ReportMetric(decodes, "decodes")
			})
		}
	}
}
