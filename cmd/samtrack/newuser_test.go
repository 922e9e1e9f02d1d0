package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"samtrack/internal/synthclip"
	"samtrack/mask"
)

// The tests in this file are issue 9's: what a new user hits on clips the
// project had never seen, one test per numbered item, through the real
// binary.

const blackswanMP4 = shared + "/data/videos/blackswan.mp4"

// TestOutRefusesEarlierRun (item 5): a fresh run into a folder that holds a
// finished run is refused with a message naming --resume and --overwrite,
// and leaves the earlier masks alone; --overwrite replaces them.
func TestOutRefusesEarlierRun(t *testing.T) {
	needShared(t, blackswanMP4)
	out := filepath.Join(t.TempDir(), "out")
	args := func(frames string, extra ...string) []string {
		return append([]string{"track", blackswanMP4, "--point", "400,200", "--max-frames", frames, "--overlay=false", "--out", out}, extra...)
	}
	if r := run(t, args("12")...); r.code != 0 {
		t.Fatalf("first run: %s", r.stderr)
	}
	r := run(t, args("3")...)
	if r.code == 0 {
		t.Fatal("a second run without --resume or --overwrite replaced the first one")
	}
	for _, want := range []string{"--resume", "--overwrite", "12 frames", out} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal does not mention %q:\n%s", want, r.stderr)
		}
	}
	if n := countMasks(t, out); n != 12 {
		t.Errorf("after the refused run %d masks remain, want the first run's 12", n)
	}
	if r := run(t, args("3", "--overwrite")...); r.code != 0 {
		t.Fatalf("--overwrite: %s", r.stderr)
	}
	if m := readManifest(t, out); !m.Complete || m.FramesDone != 3 {
		t.Errorf("after --overwrite the manifest is %+v, want a complete 3-frame run", m)
	}
	if n := countMasks(t, out); n != 3 {
		t.Errorf("after --overwrite %d masks, want 3", n)
	}
}

func countMasks(t *testing.T, out string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(out, "masks", "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestSmallThings (item 7): --help exits 0 quietly, and a resume with other
// options names only the keys that differ.
func TestSmallThings(t *testing.T) {
	t.Run("help", func(t *testing.T) {
		for _, cmd := range []string{"track", "segment", "eval", "serve", "worker"} {
			r := run(t, cmd, "--help")
			if r.code != 0 {
				t.Errorf("%s --help: exit %d, want 0", cmd, r.code)
			}
			if strings.Contains(r.stdout+r.stderr, "help requested") {
				t.Errorf("%s --help prints pflag's error:\n%s", cmd, r.stderr)
			}
			if !strings.Contains(r.stdout, "--config") {
				t.Errorf("%s --help does not print the usage on stdout:\n%s", cmd, r.stdout)
			}
		}
	})
	t.Run("worker without its cluster", func(t *testing.T) {
		for _, args := range [][]string{{"worker"}, {"worker", "--nats", "nats://127.0.0.1:1"}, {"worker", "--data", t.TempDir()}} {
			r := run(t, args...)
			if r.code != 2 || !strings.Contains(r.stderr, "--nats URL") || !strings.Contains(r.stderr, "--data DIR") {
				t.Errorf("%v: exit %d, want 2 naming --nats URL and --data DIR:\n%s", args, r.code, r.stderr)
			}
		}
		r := run(t, "worker", "--nats", "nats://127.0.0.1:1", "--data", t.TempDir())
		if r.code == 0 || !strings.Contains(r.stderr, "connect to nats://127.0.0.1:1") {
			t.Errorf("a worker with no NATS server: exit %d, want the connection error:\n%s", r.code, r.stderr)
		}
	})
	t.Run("resume names the differing keys", func(t *testing.T) {
		needShared(t, blackswanMP4)
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"track", blackswanMP4, "--point", "400,200", "--max-frames", "3", "--overlay=false", "--out", out}
		if r := run(t, args...); r.code != 0 {
			t.Fatalf("first run: %s", r.stderr)
		}
		r := run(t, append(args, "--resume", "--sam-gap", "7")...)
		if r.code == 0 {
			t.Fatal("resume with another --sam-gap succeeded")
		}
		if !strings.Contains(r.stderr, "sam_gap") || !strings.Contains(r.stderr, "was 10, now 7") {
			t.Errorf("the refusal does not name sam_gap 10 -> 7:\n%s", r.stderr)
		}
		for _, other := range []string{"max_side", "propagator", "points_per_side"} {
			if strings.Contains(r.stderr, other) {
				t.Errorf("the refusal names %s, which did not change:\n%s", other, r.stderr)
			}
		}
	})
}

// ffmpegTool returns the path of the ffmpeg or ffprobe command
// (scripts/setup.sh installs both).
func ffmpegTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed: run ./dev.sh setup (apt-get install ffmpeg)", name)
	}
	return p
}

// ffmpeg runs ffmpeg quietly with args.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(ffmpegTool(t, "ffmpeg"), append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

type probe struct {
	Streams []struct {
		Width, Height int
		Duration      string
	}
	Format struct{ Duration string }
}

// ffprobe describes a media file's first video stream and container.
func ffprobe(t *testing.T, path string) (w, h int, dur float64) {
	t.Helper()
	out, err := exec.Command(ffmpegTool(t, "ffprobe"), "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=width,height,duration:format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) == 0 {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return p.Streams[0].Width, p.Streams[0].Height, d
}

func writeLabelPNG(t *testing.T, path string, b *mask.Bitmap) {
	t.Helper()
	l := mask.NewLabelMap(b.W, b.H)
	for i, v := range b.Pix {
		l.Pix[i] = uint16(v)
	}
	if err := mask.WriteFileAtomic(path, func(w io.Writer) error { return mask.WritePalettePNG(w, l) }); err != nil {
		t.Fatal(err)
	}
}

// TestRotatedPhoneClip (item 1): a clip whose display matrix turns it is
// tracked upright, as ffmpeg shows it: the upright first-frame mask is
// accepted, a box drawn on the upright picture is inside it, the masks
// match the ground truth turned by ffmpeg itself, the overlay is upright
// and the manifest records the rotation.
func TestRotatedPhoneClip(t *testing.T) {
	needShared(t, blackswanMP4, davis)
	dir := t.TempDir()
	clip := filepath.Join(dir, "phone.mp4")
	ffmpeg(t, "-i", blackswanMP4, "-frames:v", "10", "-c", "copy", "-metadata:s:v:0", "rotate=90", clip)
	// The ground truth turned the way ffmpeg turns the clip: a lossless
	// video of the annotations with the same tag, decoded by ffmpeg.
	ffmpeg(t, "-framerate", "30", "-i", davis+"/Annotations/480p/blackswan/%05d.png", "-frames:v", "10",
		"-c:v", "libx264rgb", "-qp", "0", filepath.Join(dir, "gt-stored.mp4"))
	ffmpeg(t, "-i", filepath.Join(dir, "gt-stored.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", filepath.Join(dir, "gt.mp4"))
	upright := filepath.Join(dir, "gt")
	os.Mkdir(upright, 0o755)
	ffmpeg(t, "-i", filepath.Join(dir, "gt.mp4"), filepath.Join(upright, "%05d.png"))
	gt0 := readMask(t, filepath.Join(upright, "00001.png"))
	if gt0.W != 480 || gt0.H != 854 {
		t.Fatalf("ffmpeg shows the ground truth at %dx%d, want the upright 480x854", gt0.W, gt0.H)
	}
	first := filepath.Join(dir, "first.png")
	writeLabelPNG(t, first, gt0)

	out := filepath.Join(dir, "out")
	r := run(t, "track", clip, "--mask", first, "--out", out)
	if r.code != 0 {
		t.Fatalf("track the rotated clip with its upright mask: exit %d\n%s", r.code, r.stderr)
	}
	worst := 1.0
	for i := 0; i < 10; i++ {
		got := readMask(t, filepath.Join(out, "masks", fmt.Sprintf("%05d.png", i)))
		want := readMask(t, filepath.Join(upright, fmt.Sprintf("%05d.png", i+1)))
		if got.W != want.W || got.H != want.H {
			t.Fatalf("mask %d is %dx%d, the upright picture %dx%d", i, got.W, got.H, want.W, want.H)
		}
		worst = min(worst, mask.IoU(got, want))
	}
	t.Logf("worst J against the upright ground truth: %.3f", worst)
	if worst < 0.8 {
		t.Errorf("worst J %.3f < 0.8: the masks do not follow the upright picture", worst)
	}
	m := readManifest(t, out)
	if m.Rotation == 0 || m.Width != 480 || m.Height != 854 {
		t.Errorf("manifest: rotation %d, size %dx%d; want the rotation applied and 480x854", m.Rotation, m.Width, m.Height)
	}
	if w, h, _ := ffprobe(t, filepath.Join(out, "overlay.mp4")); w != 480 || h != 854 {
		t.Errorf("overlay is %dx%d, want upright 480x854", w, h)
	}

	// A box around the swan on the upright picture (its lower half lies
	// below y=480, outside the stored, sideways picture).
	x0, y0, x1, y1, _ := gt0.BBox()
	if y1 <= 480 {
		t.Fatalf("the swan's upright box %d,%d,%d,%d does not reach below y=480; the check below would prove nothing", x0, y0, x1, y1)
	}
	box := fmt.Sprintf("%d,%d,%d,%d", x0-5, y0-5, x1+5, y1+5)
	out2 := filepath.Join(dir, "box")
	r = run(t, "track", clip, "--box", box, "--max-frames", "1", "--overlay=false", "--out", out2)
	if r.code != 0 {
		t.Fatalf("a box on the upright picture was refused: exit %d\n%s", r.code, r.stderr)
	}
	// GrabCut from the tight box scores 0.446 on the unrotated blackswan
	// (docs/BENCHMARKS.md, issue 8): the box keeps some of the ledge. A box
	// read in the stored, sideways coordinates would score near 0.
	if j := mask.IoU(readMask(t, filepath.Join(out2, "masks", "00000.png")), gt0); j < 0.4 {
		t.Errorf("box prompt on the upright picture: J %.3f against the upright ground truth, want >= 0.4", j)
	}
}

// evalJF runs `samtrack eval` on one sequence and returns its J&F-Mean.
func evalJF(t *testing.T, gt, pred string) float64 {
	t.Helper()
	r := run(t, "eval", "--gt", gt, "--pred", pred, "--json")
	if r.code != 0 {
		t.Fatalf("eval: exit %d\n%s", r.code, r.stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, r.stdout)
	}
	return rep["J&F-Mean"].(float64)
}

// TestMaxSideKeepsSourceCoordinates (item 2): --max-side is only the
// working size. The DAVIS ground-truth mask at 854x480 is accepted with
// --max-side 427, the masks, annotations and overlay come out at 854x480
// and `samtrack eval` scores them against the ground truth as they are; on
// a 4K clip a box in the clip's own pixels is accepted under --max-side
// 1280 and the masks are 4K.
func TestMaxSideKeepsSourceCoordinates(t *testing.T) {
	needShared(t, davis, blackswanMP4)
	seq := davis + "/JPEGImages/480p/blackswan"
	gt := davis + "/Annotations/480p/blackswan"
	out := filepath.Join(t.TempDir(), "out")
	r := run(t, "track", seq, "--mask", gt+"/00000.png", "--max-side", "427", "--out", out)
	if r.code != 0 {
		t.Fatalf("--max-side 427 with the 854x480 ground-truth mask: exit %d\n%s", r.code, r.stderr)
	}
	m := readManifest(t, out)
	if m.Width != 854 || m.Height != 480 || m.WorkWidth != 427 || m.WorkHeight != 240 {
		t.Errorf("manifest: size %dx%d, working %dx%d; want 854x480 working at 427x240", m.Width, m.Height, m.WorkWidth, m.WorkHeight)
	}
	if l := readMask(t, filepath.Join(out, "masks", "00025.png")); l.W != 854 || l.H != 480 {
		t.Errorf("mask is %dx%d, want the source's 854x480", l.W, l.H)
	}
	var ann struct {
		Images      []struct{ Width, Height int }
		Annotations []struct {
			Segmentation struct{ Size []int }
			BBox         []int
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "annotations.json"))
	if err := json.Unmarshal(b, &ann); err != nil || len(ann.Annotations) == 0 {
		t.Fatalf("annotations.json: %v", err)
	}
	if im := ann.Images[0]; im.Width != 854 || im.Height != 480 {
		t.Errorf("COCO image is %dx%d, want 854x480", im.Width, im.Height)
	}
	if s := ann.Annotations[0].Segmentation.Size; len(s) != 2 || s[0] != 480 || s[1] != 854 {
		t.Errorf("COCO RLE size %v, want [480 854]", s)
	}
	if w, h, _ := ffprobe(t, filepath.Join(out, "overlay.mp4")); w != 854 || h != 480 {
		t.Errorf("overlay is %dx%d, want 854x480", w, h)
	}
	jf := evalJF(t, gt, filepath.Join(out, "masks"))
	t.Logf("--max-side 427, scored at 854x480 without conversion: J&F-Mean %.3f", jf)
	if jf < 0.8 {
		t.Errorf("J&F-Mean %.3f < 0.8", jf)
	}

	t.Run("4K box in source pixels", func(t *testing.T) {
		clip := filepath.Join(t.TempDir(), "4k.mp4")
		ffmpeg(t, "-i", blackswanMP4, "-frames:v", "3", "-vf", "scale=3840:2160", "-c:v", "libx264", "-preset", "ultrafast", clip)
		out := filepath.Join(t.TempDir(), "out4k")
		// The swan's box in the 4K picture: 4.5 times its 854x480 one,
		// reaching well past x=1280.
		x0, y0, x1, y1, _ := readMask(t, gt+"/00000.png").BBox()
		bx0, by0, bx1, by1 := x0*9/2-20, y0*9/2-20, x1*9/2+20, y1*9/2+20
		box := fmt.Sprintf("%d,%d,%d,%d", bx0, by0, bx1, by1)
		r := run(t, "track", clip, "--box", box, "--max-side", "1280", "--overlay=false", "--out", out)
		if r.code != 0 {
			t.Fatalf("a box in the 4K clip's pixels under --max-side 1280: exit %d\n%s", r.code, r.stderr)
		}
		got := readMask(t, filepath.Join(out, "masks", "00000.png"))
		if got.W != 3840 || got.H != 2160 {
			t.Fatalf("mask is %dx%d, want 3840x2160", got.W, got.H)
		}
		want, err := readMask(t, gt+"/00000.png").ResizeNearest(3840, 2160)
		if err != nil {
			t.Fatal(err)
		}
		inside := 0
		for y := by0; y < by1; y++ {
			for x := bx0; x < bx1; x++ {
				inside += int(got.Pix[y*got.W+x])
			}
		}
		j := mask.IoU(got, want)
		t.Logf("4K mask from the box: J %.3f against the scaled ground truth (GrabCut), %d of %d pixels inside the box", j, inside, got.Area())
		if j < 0.4 || inside < got.Area()*95/100 {
			t.Errorf("the 4K mask does not follow the box in source pixels: J %.3f, %d of %d pixels inside it", j, inside, got.Area())
		}
	})
}

// TestOverlayTiming (item 3): the overlay keeps the source's timestamps
// (variable frame rate, --stride) and its size, or records the padding.
func TestOverlayTiming(t *testing.T) {
	needShared(t, blackswanMP4)
	dir := t.TempDir()
	// 50 frames: the first 25 at 15 fps, the rest at 30 fps (2.5 s).
	vfr := filepath.Join(dir, "vfr.mp4")
	ffmpeg(t, "-i", blackswanMP4, "-vf", "setpts='if(lt(N,25),2*N,N+25)/30/TB'", "-fps_mode", "passthrough",
		"-c:v", "libx264", "-preset", "ultrafast", vfr)
	_, _, srcDur := ffprobe(t, vfr)
	if srcDur < 2.4 {
		t.Fatalf("the variable-rate clip lasts %.2fs, want about 2.5s", srcDur)
	}
	odd := filepath.Join(dir, "odd")
	os.Mkdir(odd, 0o755)
	ffmpeg(t, "-i", blackswanMP4, "-frames:v", "4", "-vf", "scale=853:479", filepath.Join(odd, "%05d.png"))

	cases := []struct {
		name    string
		input   string
		args    []string
		wantDur float64 // seconds; tolerance one source frame at 15 fps
	}{
		{"variable frame rate", vfr, nil, srcDur},
		{"stride 3", blackswanMP4, []string{"--stride", "3"}, 50.0 / 30},
		{"start and stride", blackswanMP4, []string{"--start", "0.5s", "--stride", "2"}, 35.0 / 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			r := run(t, append([]string{"track", tc.input, "--point", "400,200", "--out", out}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			_, _, d := ffprobe(t, filepath.Join(out, "overlay.mp4"))
			t.Logf("overlay lasts %.3fs, the processed span %.3fs", d, tc.wantDur)
			if math.Abs(d-tc.wantDur) > 1.0/15+0.01 {
				t.Errorf("overlay lasts %.3fs, the processed span of the input %.3fs", d, tc.wantDur)
			}
		})
	}
	t.Run("odd size", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		if r := run(t, "track", odd, "--point", "400,200", "--out", out); r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		w, h, _ := ffprobe(t, filepath.Join(out, "overlay.mp4"))
		m := readManifest(t, out)
		if m.Overlay == nil {
			t.Fatalf("the manifest does not describe the overlay; it is %dx%d for an 853x479 input", w, h)
		}
		o := m.Overlay
		if o.Width != 853 || o.Height != 479 || o.Width+o.PadRight != w || o.Height+o.PadBottom != h {
			t.Errorf("overlay %dx%d, manifest says %dx%d padded by %d, %d", w, h, o.Width, o.Height, o.PadRight, o.PadBottom)
		}
	})
}

// TestProgressAndNumbering (item 6): progress counts the frames the run
// processes (--max-frames, --start, --stride), the first progress line
// has no invented ETA, and with --start/--stride masks are named by source
// frame index; a run so numbered resumes to the same masks.
func TestProgressAndNumbering(t *testing.T) {
	needShared(t, catMP4, blackswanMP4)
	t.Run("progress", func(t *testing.T) {
		for _, tc := range []struct {
			args  []string
			total string
		}{
			{[]string{"--max-frames", "9"}, "total=9"},
			{[]string{"--start", "1s", "--stride", "4"}, "total=30"}, // (149 - 30) / 4 rounded up
		} {
			out := filepath.Join(t.TempDir(), "out")
			r := run(t, append([]string{"track", catMP4, "--point", "300,170", "--overlay=false", "--out", out}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("%v: exit %d\n%s", tc.args, r.code, r.stderr)
			}
			var first string
			for _, line := range strings.Split(r.stderr, "\n") {
				if strings.Contains(line, "msg=progress") {
					first = line
					break
				}
			}
			if !strings.Contains(first, tc.total) {
				t.Errorf("%v: first progress line %q, want %s", tc.args, first, tc.total)
			}
			if !strings.Contains(first, "eta=unknown") {
				t.Errorf("%v: first progress line %q shows an ETA before any rate is known", tc.args, first)
			}
		}
	})
	t.Run("numbering and resume", func(t *testing.T) {
		args := func(out string) []string {
			return []string{"track", catMP4, "--point", "300,170", "--start", "1s", "--stride", "3", "--overlay=false", "--out", out}
		}
		full := filepath.Join(t.TempDir(), "full")
		if r := run(t, args(full)...); r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		names, _ := filepath.Glob(filepath.Join(full, "masks", "*.png"))
		var got []string
		for _, n := range names {
			got = append(got, filepath.Base(n))
		}
		// cat.mp4 runs at 29.56 fps on average: 1 s is frame 30.
		if len(got) < 30 || got[0] != "00030.png" || got[1] != "00033.png" || got[len(got)-1] != fmt.Sprintf("%05d.png", 30+3*(len(got)-1)) {
			t.Fatalf("masks %v, want the source frame indices 00030, 00033, ...", got)
		}
		// Interrupt a run, resume it: the same masks under the same names.
		part := filepath.Join(t.TempDir(), "part")
		interruptAfter(t, args(part), part, 5)
		if r := run(t, append(args(part), "--resume")...); r.code != 0 {
			t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
		}
		for _, n := range got {
			a, _ := os.ReadFile(filepath.Join(full, "masks", n))
			b, err := os.ReadFile(filepath.Join(part, "masks", n))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("resumed mask %s differs from the uninterrupted run's (%v)", n, err)
			}
		}
	})
}

// interruptAfter starts samtrack with args and sends SIGINT once the
// manifest in out commits n frames.
func interruptAfter(t *testing.T, args []string, out string, n int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
		var m manifestDoc
		if err == nil && json.Unmarshal(b, &m) == nil && m.FramesDone >= n {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if m := readManifest(t, out); m.Complete {
		t.Fatalf("the run finished before it could be interrupted (%v)\n%s", err, stderr.String())
	}
}

// TestPromptsAndErrors (item 4): a box partly outside the picture is
// clipped with a warning; a point or box wholly outside is an error that
// names the picture size and never suggests --resume.
func TestPromptsAndErrors(t *testing.T) {
	needShared(t, blackswanMP4, davis)
	x0, _, x1, y1, _ := readMask(t, davis+"/Annotations/480p/blackswan/00000.png").BBox()
	out := filepath.Join(t.TempDir(), "clipped")
	r := run(t, "track", blackswanMP4, "--box", fmt.Sprintf("%d,%d,%d,%d", x0-10, -60, x1+10, y1+100), "--max-frames", "2", "--overlay=false", "--out", out)
	if r.code != 0 {
		t.Fatalf("a box partly outside the picture: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "clipped") {
		t.Errorf("no warning that the box was clipped:\n%s", r.stderr)
	}
	if readMask(t, filepath.Join(out, "masks", "00000.png")).Area() == 0 {
		t.Error("the clipped box gave an empty mask")
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"box wholly outside", []string{"--box", "900,500,1000,600"}, "wholly outside the 854x480 picture"},
		{"point outside", []string{"--point", "900,100"}, "outside the 854x480 picture"},
		{"later frame point outside", []string{"--prompts", writePrompts(t, `{"objects": [{"id": 2, "frame": 7, "points": [[10, 500]]}]}`)}, "outside the 854x480 picture"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append([]string{"track", blackswanMP4, "--overlay=false", "--out", filepath.Join(t.TempDir(), "o")}, tc.args...)...)
			if r.code == 0 {
				t.Fatal("exit 0")
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("error does not say %q:\n%s", tc.want, r.stderr)
			}
			if strings.Contains(r.stderr, "--resume") || strings.Contains(r.stderr, "stopped after") {
				t.Errorf("a prompt error suggests resuming:\n%s", r.stderr)
			}
		})
	}
}

func writePrompts(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prompts.json")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSegmentThenTrack: the mask samtrack segment writes (greyscale, 255
// inside) given to track --mask is object 1, as DAVIS 2016 reads such
// masks, not object 255; the run's palette masks and tracks.json say 1.
func TestSegmentThenTrack(t *testing.T) {
	needShared(t, catMP4)
	dir := t.TempDir()
	m := filepath.Join(dir, "cat.png")
	if r := run(t, "segment", "--video", catMP4, "--frame", "0", "--point", "300,170", "--out", m); r.code != 0 {
		t.Fatalf("segment: exit %d\n%s", r.code, r.stderr)
	}
	out := filepath.Join(dir, "run")
	if r := run(t, "track", catMP4, "--mask", m, "--max-frames", "3", "--overlay=false", "--out", out); r.code != 0 {
		t.Fatalf("track: exit %d\n%s", r.code, r.stderr)
	}
	if d := readTracks(t, out); len(d.Objects) != 1 || d.Objects[0].ID != 1 {
		t.Errorf("tracks.json objects %+v, want object 1", d.Objects)
	}
	l, err := mask.ReadLabelPNGFile(filepath.Join(out, "masks", "00000.png"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uint16]int{}
	for _, v := range l.Pix {
		ids[uint16(v)]++
	}
	if len(ids) != 2 || ids[1] == 0 {
		t.Errorf("frame 0's ids %v, want 0 and 1", ids)
	}
}

// TestSegmentOtherPictureFormats: segment --image reads what FFmpeg reads
// (WebP, GIF, BMP, TIFF), not only JPEG and PNG, at the picture's size; a
// file that is no picture still gets exit 2 and the formats it wants.
func TestSegmentOtherPictureFormats(t *testing.T) {
	needShared(t, catMP4)
	ff := synthclip.Tool(t, "ffmpeg")
	dir := t.TempDir()
	for _, ext := range []string{"webp", "gif", "bmp", "tiff"} {
		pic := filepath.Join(dir, "cat."+ext)
		if out, err := exec.Command(ff, "-v", "error", "-i", catMP4, "-frames:v", "1", pic).CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", pic, err, out)
		}
		out := filepath.Join(dir, ext+".png")
		if r := run(t, "segment", "--image", pic, "--box", "200,80,420,300", "--out", out); r.code != 0 {
			t.Errorf("%s: exit %d\n%s", ext, r.code, r.stderr)
			continue
		}
		l, err := mask.ReadLabelPNGFile(out)
		if err != nil || l.W != 568 || l.H != 320 {
			t.Errorf("%s: mask %v, %v; want 568x320", ext, l, err)
		}
	}
	txt := filepath.Join(dir, "notes.webp")
	os.WriteFile(txt, []byte("not a picture\n"), 0o644)
	if r := run(t, "segment", "--image", txt, "--point", "1,1", "--out", filepath.Join(dir, "x.png")); r.code != 2 || !strings.Contains(r.stderr, "WebP") {
		t.Errorf("a text file: exit %d\n%s", r.code, r.stderr)
	}
}

// TestDemoRunsTwice: the README's demo (scripts/demo.sh, what `./dev.sh
// demo` runs after setup) succeeds on a second run, which replaces the
// first one's output: the README calls it idempotent. It failed once the
// run folder started refusing an earlier run.
func TestDemoRunsTwice(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	for i := 1; i <= 2; i++ {
		cmd := exec.Command("bash", "../../scripts/demo.sh")
		cmd.Env = append(os.Environ(), "DEMO_BIN="+binary, "DEMO_OUT="+out)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("demo run %d: %v\n%s", i, err, b)
		}
		m := readManifest(t, filepath.Join(out, "track"))
		if !m.Complete || m.FramesDone == 0 {
			t.Fatalf("after demo run %d the manifest is %+v, want a complete run", i, m)
		}
		if _, err := os.Stat(filepath.Join(out, "disc.png")); err != nil {
			t.Fatalf("demo run %d: %v", i, err)
		}
	}
}
