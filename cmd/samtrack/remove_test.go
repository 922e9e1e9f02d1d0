package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samtrack/inpaint"
	"samtrack/internal/synthclip"
	"samtrack/internal/testgen"
	"samtrack/mask"
	"samtrack/media"
)

// TestRemoveSynthetic is the synthetic acceptance check through the CLI:
// the square is prompted by its frame-0 mask, tracked by the built-in
// propagator and removed; the fill matches the true background to within
// 3/255 and the output keeps the frames, timestamps and audio.
func TestRemoveSynthetic(t *testing.T) {
	c, dir, in, first := removalClip(t)
	out := filepath.Join(dir, "out.mp4")
	r := run(t, "remove", in, "--mask", first, "--out", out)
	if r.code != 0 {
		t.Fatalf("remove: exit %d\n%s", r.code, r.stderr)
	}
	rep, err := c.Measure(synthclip.Tool(t, "ffprobe"), in, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if rep.FillMAE >= 3 {
		t.Fatalf("MAE %.2f/255 in the filled region, want < 3", rep.FillMAE)
	}
	checkRemovalProgress(t, r.stderr)
	// The tracking run stays beside the output and can be reused.
	if _, err := os.Stat(filepath.Join(dir, "out.track", "masks", "00047.png")); err != nil {
		t.Fatalf("tracking run not kept: %v", err)
	}
	r = run(t, "remove", in, "--masks", filepath.Join(dir, "out.track"), "--ids", "1", "--out", filepath.Join(dir, "again.mp4"))
	if r.code != 0 {
		t.Fatalf("remove --masks: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRemoveAgain: a second remove into the same output finds its own
// earlier tracking run. Without a flag it is refused with a message naming
// --resume and --overwrite, which remove takes (it once named them without
// taking them, leaving the user stuck); --resume reuses the finished run
// without tracking again, --overwrite tracks anew, and neither goes with
// --masks.
func TestRemoveAgain(t *testing.T) {
	_, dir, in, first := removalClip(t)
	out := filepath.Join(dir, "out.mp4")
	args := func(extra ...string) []string {
		return append([]string{"remove", in, "--mask", first, "--window", "2", "--out", out}, extra...)
	}
	if r := run(t, args()...); r.code != 0 {
		t.Fatalf("first remove: exit %d\n%s", r.code, r.stderr)
	}
	mask0 := filepath.Join(dir, "out.track", "masks", "00000.png")
	before, err := os.Stat(mask0)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, args()...)
	if r.code == 0 {
		t.Fatal("a second remove replaced the earlier tracking run without --overwrite")
	}
	for _, want := range []string{"--resume", "--overwrite"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not name %s:\n%s", want, r.stderr)
		}
	}
	if r := run(t, args("--resume")...); r.code != 0 {
		t.Fatalf("remove --resume: exit %d\n%s", r.code, r.stderr)
	}
	if after, err := os.Stat(mask0); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("remove --resume tracked again (frame 0's mask rewritten: %v)", err)
	}
	if r := run(t, args("--overwrite")...); r.code != 0 {
		t.Fatalf("remove --overwrite: exit %d\n%s", r.code, r.stderr)
	}
	if m := readManifest(t, filepath.Join(dir, "out.track")); !m.Complete {
		t.Errorf("after --overwrite the tracking run is %+v, want complete", m)
	}
	r = run(t, "remove", in, "--masks", filepath.Join(dir, "out.track"), "--resume", "--out", filepath.Join(dir, "again.mp4"))
	if r.code != 2 || !strings.Contains(r.stderr, "--masks") {
		t.Errorf("--masks with --resume: exit %d, want 2 and a message naming --masks\n%s", r.code, r.stderr)
	}
}

// removalClip writes the synthetic removal clip and its frame-0 labels
// into a new temporary folder: the clip, the folder, the video and the
// labels' paths.
func removalClip(t *testing.T) (synthclip.Clip, string, string, string) {
	t.Helper()
	c := synthclip.Default()
	dir := t.TempDir()
	in, first := filepath.Join(dir, "in.mp4"), filepath.Join(dir, "first.png")
	if err := c.Write(synthclip.Tool(t, "ffmpeg"), in); err != nil {
		t.Fatal(err)
	}
	writeFirstLabels(t, c, first)
	return c, dir, in, first
}

// checkRemovalProgress checks the progress lines the removal logs after
// its tracking: frames done, a rate, and no object count (a removal tracks
// none).
func checkRemovalProgress(t *testing.T, stderr string) {
	t.Helper()
	_, removal, ok := strings.Cut(stderr, "tracked the objects to remove")
	if !ok {
		t.Fatalf("no tracking line in\n%s", stderr)
	}
	n := 0
	for _, line := range strings.Split(removal, "\n") {
		if !strings.Contains(line, "msg=progress") {
			continue
		}
		n++
		if strings.Contains(line, " done=0 ") || strings.Contains(line, " fps=0.0") || strings.Contains(line, "objects=") {
			t.Errorf("removal progress %q: want frames done and a rate, and no object count", line)
		}
	}
	if n == 0 {
		t.Errorf("the removal logged no progress:\n%s", removal)
	}
}

func writeFirstLabels(t *testing.T, c synthclip.Clip, path string) {
	t.Helper()
	png, err := c.FirstLabels()
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestRemoveBlackswan is the real-footage acceptance check: the swan,
// prompted by its DAVIS frame-0 mask and tracked, is removed; inside its
// dilated tracked mask the output looks like the surrounding water, not
// like the swan.
func TestRemoveBlackswan(t *testing.T) {
	needShared(t, blackswanMP4, davis)
	dir := t.TempDir()
	out, trk := filepath.Join(dir, "noswan.mp4"), filepath.Join(dir, "track")
	r := run(t, "remove", blackswanMP4, "--mask", davis+"/Annotations/480p/blackswan/00000.png", "--track-out", trk, "--out", out)
	if r.code != 0 {
		t.Fatalf("remove: exit %d\n%s", r.code, r.stderr)
	}
	src, got := decodeFrames(t, blackswanMP4), decodeFrames(t, out)
	if len(got) != len(src) {
		t.Fatalf("output has %d frames, input %d", len(got), len(src))
	}
	var st swanStats
	for i := range src {
		l, err := mask.ReadLabelPNGFile(filepath.Join(trk, "masks", fmt.Sprintf("%05d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		st.add(src[i].RGB, got[i].RGB, l)
	}
	t.Log(st)
	// Every frame's mean inside the mask is clearly nearer the water than
	// the swan (the reflection under the swan, which is water and stays,
	// keeps it darker than the open water around).
	if st.worst > 0.75 {
		t.Errorf("in some frame the mean colour inside the mask is %.2f times as far from the water as from the swan, want <= 0.75", st.worst)
	}
	// Swan-coloured pixels are no more common than in water: some ripples
	// reflect the sky in the swan's blue-grey.
	before, after, water := st.likeIn/st.nIn, st.likeOut/st.nIn, st.likeBg/st.nRing
	if after > 2*water || after > before/5 {
		t.Errorf("%.2f%% of the pixels inside the dilated mask are swan-coloured (%.2f%% before removal), want at most twice the %.2f%% of the water around it",
			100*after, 100*before, 100*water)
	}
}

// swanStats compares, frame by frame, the output inside the dilated
// tracked mask with the input's swan (inside the mask) and water (a ring
// 16-48 px around it). A pixel is swan-coloured when it is nearer the
// frame's swan mean than a third of the way to the water mean.
type swanStats struct {
	frames                  int
	worst                   float64 // largest dist(out, water) / dist(out, swan) of a frame
	likeIn, likeOut, likeBg float64 // swan-coloured fractions: input mask, output mask, input ring
	nIn, nRing              float64
	swan, water, out        [3]float64
}

func (s *swanStats) add(in, out []byte, l *mask.LabelMap) {
	obj := l.Object(1)
	dil, _ := obj.DilateDisk(inpaint.DefaultMargin)
	far, _ := obj.DilateDisk(inpaint.DefaultMargin + 32)
	swan, water := meanWhere(in, obj.Pix, nil), meanWhere(in, far.Pix, dil.Pix)
	o := meanWhere(out, dil.Pix, nil)
	s.worst = math.Max(s.worst, dist(o, water)/dist(o, swan))
	r := dist(swan, water) / 3
	for p := range dil.Pix {
		pi := [3]float64{float64(in[p*3]), float64(in[p*3+1]), float64(in[p*3+2])}
		if dil.Pix[p] != 0 {
			po := [3]float64{float64(out[p*3]), float64(out[p*3+1]), float64(out[p*3+2])}
			s.nIn++
			if dist(pi, swan) < r {
				s.likeIn++
			}
			if dist(po, swan) < r {
				s.likeOut++
			}
		} else if far.Pix[p] != 0 {
			s.nRing++
			if dist(pi, swan) < r {
				s.likeBg++
			}
		}
	}
	for c := 0; c < 3; c++ {
		s.swan[c], s.water[c], s.out[c] = s.swan[c]+swan[c], s.water[c]+water[c], s.out[c]+o[c]
	}
	s.frames++
}

func (s swanStats) String() string {
	n := float64(s.frames)
	return fmt.Sprintf("over %d frames, mean RGB: swan [%.0f %.0f %.0f], water around it [%.0f %.0f %.0f], output inside the dilated mask [%.0f %.0f %.0f]; worst frame's distance ratio to water/to swan %.2f; swan-coloured pixels: %.2f%% of the mask before, %.2f%% after, %.2f%% of the water around it",
		s.frames, s.swan[0]/n, s.swan[1]/n, s.swan[2]/n, s.water[0]/n, s.water[1]/n, s.water[2]/n, s.out[0]/n, s.out[1]/n, s.out[2]/n,
		s.worst, 100*s.likeIn/s.nIn, 100*s.likeOut/s.nIn, 100*s.likeBg/s.nRing)
}

func meanWhere(rgb []byte, in, notIn []uint8) [3]float64 {
	var m [3]float64
	n := 0.0
	for p, v := range in {
		if v == 0 || (notIn != nil && notIn[p] != 0) {
			continue
		}
		for c := 0; c < 3; c++ {
			m[c] += float64(rgb[p*3+c])
		}
		n++
	}
	for c := range m {
		m[c] /= math.Max(n, 1)
	}
	return m
}

func dist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

func decodeFrames(t *testing.T, path string) []media.Frame {
	t.Helper()
	f, err := synthclip.DecodeAll(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestModelsInspectLaMa: inspect recognises the LaMa inpainting layout.
func TestModelsInspectLaMa(t *testing.T) {
	p := writeTestLaMa(t)
	r := run(t, "models", "inspect", p)
	if r.code != 0 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"lama-inpainter", "inpainter", "input   image", "input   mask", "[1,3,512,512]"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func writeTestLaMa(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lama.onnx")
	if err := testgen.WriteLaMa(p, 255); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRemoveWithModelAndBadInputs: --inpaint-model synthesises with a LaMa
// model (a one-frame window leaves pixels no frame shows), and bad input
// is refused with exit code 2 and a message naming the problem.
func TestRemoveWithModelAndBadInputs(t *testing.T) {
	c, dir, in, first := removalClip(t)
	lama := writeTestLaMa(t)
	r := run(t, "remove", in, "--mask", first, "--window", "1", "--inpaint-model", lama, "--out", filepath.Join(dir, "lama.mp4"))
	if r.code != 0 || !strings.Contains(r.stderr, "synthesis=lama:") || strings.Contains(r.stderr, "synthesised=0 ") {
		t.Fatalf("remove --inpaint-model: exit %d\n%s", r.code, r.stderr)
	}
	notLaMa := filepath.Join(dir, "first.png")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no prompt":      {[]string{"remove", in, "--out", filepath.Join(dir, "x.mp4")}, "say what to remove"},
		"no out":         {[]string{"remove", in, "--mask", first}, "--out"},
		"mkv out":        {[]string{"remove", in, "--mask", first, "--out", filepath.Join(dir, "x.mkv")}, "give a name ending in .mp4"},
		"bad ids":        {[]string{"remove", in, "--masks", dir, "--ids", "1,x", "--out", filepath.Join(dir, "x.mp4")}, "not an object id"},
		"no masks":       {[]string{"remove", in, "--masks", filepath.Join(dir, "none"), "--out", filepath.Join(dir, "x.mp4")}, "not a directory of label PNGs"},
		"bad model":      {[]string{"remove", in, "--mask", first, "--inpaint-model", notLaMa, "--out", filepath.Join(dir, "x.mp4")}, notLaMa},
		"bad method":     {[]string{"remove", in, "--mask", first, "--inpaint-method", "magic", "--out", filepath.Join(dir, "x.mp4")}, "telea or ns"},
		"unfinished run": {[]string{"remove", in, "--masks", unfinishedRun(t), "--out", filepath.Join(dir, "x.mp4")}, "did not complete"},
		"run of part":    {[]string{"remove", in, "--masks", partialRun(t), "--out", filepath.Join(dir, "x.mp4")}, "skipped frames of the input (video.start 500ms, video.stride 2)"},
		"other input":    {[]string{"remove", in, "--masks", finishedRun(t, "other.mp4", 160, 120, 47, first), "--out", filepath.Join(dir, "x.mp4")}, "are 160x120 (a run on other.mp4) but the input's frames are 320x240"},
		"shorter run":    {[]string{"remove", in, "--masks", finishedRun(t, in, c.W, c.H, 2, first), "--out", filepath.Join(dir, "x.mp4")}, "end at frame 2"},
	} {
		r := run(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, want 2 and a message with %q:\n%s", name, r.code, tc.want, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "x.mp4")); err == nil {
			t.Errorf("%s: a failed removal left its output behind", name)
		}
	}
}

// unfinishedRun is a run directory whose manifest says it stopped early.
func unfinishedRun(t *testing.T) string {
	d := t.TempDir()
	os.MkdirAll(filepath.Join(d, "masks"), 0o755)
	os.WriteFile(filepath.Join(d, "manifest.json"), []byte(`{"complete": false, "frames_done": 3}`), 0o644)
	return d
}

// finishedRun is a complete run directory on input (w x h) whose last
// frame is last, with every frame's masks a copy of labels.
func finishedRun(t *testing.T, input string, w, h, last int, labels string) string {
	d := t.TempDir()
	os.MkdirAll(filepath.Join(d, "masks"), 0o755)
	png, err := os.ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= last; i++ {
		os.WriteFile(filepath.Join(d, "masks", fmt.Sprintf("%05d.png", i)), png, 0o644)
	}
	m := fmt.Sprintf(`{"complete": true, "input": %q, "width": %d, "height": %d, "frames_done": %d, "last_frame": %d}`, input, w, h, last+1, last)
	os.WriteFile(filepath.Join(d, "manifest.json"), []byte(m), 0o644)
	return d
}

// partialRun is a finished run directory whose manifest says it tracked
// from 0.5 s, every second frame (track --start 0.5s --stride 2).
func partialRun(t *testing.T) string {
	d := t.TempDir()
	os.MkdirAll(filepath.Join(d, "masks"), 0o755)
	os.WriteFile(filepath.Join(d, "manifest.json"), []byte(`{"complete": true, "frames_done": 10, "options": {"config": {"video": {"start": 500000000, "stride": 2}}}}`), 0o644)
	return d
}
