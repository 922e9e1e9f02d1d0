package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"samtrack/export"
	"samtrack/internal/testenv"
	"samtrack/internal/testgen"
	"samtrack/mask"
)

// The CLI is tested as users run it: the real binary, real files.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "samtrack-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "samtrack")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build samtrack: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	shared   = "../../../shared"
	samRef   = shared + "/fixtures/sam-reference"
	dogFrame = shared + "/data/davis/JPEGImages/480p/dog/00000.jpg"
)

func needShared(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			testenv.Missing(t, "shared data missing: %v", err)
		}
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = os.Environ()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run samtrack: %v", err)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("samtrack %v panicked:\n%s", args, r.stderr)
	}
	return r
}

func readMask(t *testing.T, path string) *mask.Bitmap {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	im, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	b := im.Bounds()
	m := mask.NewBitmap(b.Dx(), b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, _, _, _ := im.At(b.Min.X+x, b.Min.Y+y).RGBA()
			if r > 0x7fff {
				m.Pix[y*b.Dx()+x] = 1
			}
		}
	}
	return m
}

func agreement(a, b *mask.Bitmap) float64 {
	if a.W != b.W || a.H != b.H {
		return 0
	}
	same := 0
	for i := range a.Pix {
		if (a.Pix[i] != 0) == (b.Pix[i] != 0) {
			same++
		}
	}
	return float64(same) / float64(len(a.Pix))
}

// refPrompt is one entry of the fixture's reference.json.
type refPrompt struct {
	Points    [][]float64 `json:"points_in_frame"`
	Labels    []int       `json:"labels_in_frame"`
	Box       []float64   `json:"box_in_frame"`
	IoU       []float64   `json:"iou_predictions"`
	MaskFiles []string    `json:"mask_files"`
	Coords    [][]float64 `json:"point_coords_1024"`
	HasMask   int         `json:"has_mask_input"`
}

// officialChoice applies select_masks: N counts the padding point; N <= 2
// picks the best IoU among tokens 1-3, otherwise token 0.
func officialChoice(p refPrompt) int {
	if len(p.Coords) > 2 {
		return 0
	}
	best := 1
	for k := 2; k < 4; k++ {
		if p.IoU[k] > p.IoU[best] {
			best = k
		}
	}
	return best
}

func TestSegmentMatchesReference(t *testing.T) {
	needShared(t, samRef+"/reference.json", dogFrame)
	raw, err := os.ReadFile(samRef + "/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Prompts map[string]json.RawMessage `json:"prompts"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"point", "box", "two_points"} {
		t.Run(name, func(t *testing.T) {
			var p refPrompt
			if err := json.Unmarshal(ref.Prompts[name], &p); err != nil {
				t.Fatal(err)
			}
			if p.Box == nil {
				// Older fixture files keep the box among the points (labels 2, 3).
				var pts [][]float64
				for i, pt := range p.Points {
					if i < len(p.Labels) && (p.Labels[i] == 2 || p.Labels[i] == 3) {
						p.Box = append(p.Box, pt...)
					} else {
						pts = append(pts, pt)
					}
				}
				p.Points = pts
			}
			out := filepath.Join(t.TempDir(), "m.png")
			args := []string{"segment", "--image", dogFrame, "--sam-encoder", samRef + "/encoder.onnx",
				"--sam-decoder", samRef + "/decoder.onnx", "--out", out}
			for i, pt := range p.Points {
				label := 1
				if i < len(p.Labels) {
					label = p.Labels[i]
				}
				args = append(args, "--point", fmt.Sprintf("%g,%g,%d", pt[0], pt[1], label))
			}
			if len(p.Box) == 4 {
				args = append(args, "--box", fmt.Sprintf("%g,%g,%g,%g", p.Box[0], p.Box[1], p.Box[2], p.Box[3]))
			}
			r := run(t, args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			want := readMask(t, filepath.Join(samRef, p.MaskFiles[officialChoice(p)]))
			got := readMask(t, out)
			if a := agreement(got, want); a < 0.99 {
				t.Errorf("%s: mask agrees with the reference on %.4f of pixels, want >= 0.99", name, a)
			} else {
				t.Logf("%s: agreement %.5f", name, a)
			}
		})
	}
}

func TestSegmentJSON(t *testing.T) {
	needShared(t, dogFrame, samRef+"/encoder.onnx")
	dir := t.TempDir()
	png, js := filepath.Join(dir, "m.png"), filepath.Join(dir, "m.json")
	common := []string{"segment", "--image", dogFrame, "--sam-encoder", samRef + "/encoder.onnx",
		"--sam-decoder", samRef + "/decoder.onnx", "--point", "420,260"}
	if r := run(t, append(common, "--out", png)...); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := run(t, append(common, "--out", js)...); r.code != 0 {
		t.Fatal(r.stderr)
	}
	var doc export.SegmentDoc
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Annotations) != 1 || doc.Image.Width != 854 || doc.Image.Height != 480 {
		t.Fatalf("unexpected document: %+v", doc.Image)
	}
	m, err := doc.Annotations[0].Segmentation.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if a := agreement(m, readMask(t, png)); a != 1 {
		t.Errorf("JSON RLE and PNG disagree on %.5f of pixels", 1-a)
	}
	if doc.Annotations[0].Area != m.Area() {
		t.Errorf("area %d, mask has %d", doc.Annotations[0].Area, m.Area())
	}
}

// TestSegmentWarnsOnTinyPrompt: segment reports a prompt mask below
// track.min_area as track does, on the command line and in the JSON
// document; an ordinary click gives no warning.
func TestSegmentWarnsOnTinyPrompt(t *testing.T) {
	for _, c := range []struct {
		name   string
		prompt []string
		warn   string
	}{
		{"4x4 box", []string{"--box", "20,20,24,24"}, "below track.min_area (200)"},
		{"click on the subject", []string{"--point", "150,120"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "m.json")
			r := run(t, append([]string{"segment", "--video", "../../testdata/sample.mp4", "--frame", "0", "--out", out}, c.prompt...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			var doc export.SegmentDoc
			b, _ := os.ReadFile(out)
			if err := json.Unmarshal(b, &doc); err != nil || len(doc.Annotations) != 1 {
				t.Fatalf("document %s: %v", b, err)
			}
			w := doc.Annotations[0].Warning
			if c.warn == "" {
				if w != "" || strings.Contains(r.stderr, "warning:") {
					t.Errorf("ordinary prompt warned: %q\n%s", w, r.stderr)
				}
				return
			}
			if !strings.Contains(w, c.warn) || !strings.Contains(r.stderr, "warning: "+w) {
				t.Errorf("warning %q, stderr:\n%s\nwant one containing %q in both", w, r.stderr, c.warn)
			}
		})
	}
}

// TestSegmentEverythingVideoFrame: segment --everything on frame N of a
// video (generated SAM models) writes a JSON document naming the frame,
// masks largest first with their stability scores and points, and a palette
// PNG where each pixel holds the last (smallest) mask covering it.
func TestSegmentEverythingVideoFrame(t *testing.T) {
	video := shared + "/data/videos/blackswan.mp4"
	needShared(t, video)
	dir := t.TempDir()
	p, err := testgen.WriteDir(filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SAMTRACK_EVERYTHING_POINTS_PER_SIDE", "8")
	t.Setenv("SAMTRACK_EVERYTHING_PRED_IOU_THRESH", "0") // the generated decoder's scores are not SAM's
	t.Setenv("SAMTRACK_EVERYTHING_STABILITY_SCORE_THRESH", "0")
	png, js := filepath.Join(dir, "e.png"), filepath.Join(dir, "e.json")
	common := []string{"segment", "--video", video, "--frame", "2", "--everything",
		"--sam-encoder", p.SAMEncoder, "--sam-decoder", p.SAMDecoder}
	for _, out := range []string{png, js} {
		if r := run(t, append(common, "--out", out)...); r.code != 0 {
			t.Fatal(r.stderr)
		}
	}
	var doc export.SegmentDoc
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Image.File != video || doc.Image.Frame == nil || *doc.Image.Frame != 2 || doc.Image.Width != 854 || doc.Image.Height != 480 {
		t.Fatalf("image %+v, want frame 2 of %s at 854x480", doc.Image, video)
	}
	if len(doc.Annotations) < 2 {
		t.Fatalf("%d masks; want several", len(doc.Annotations))
	}
	labels, err := mask.ReadLabelPNGFile(png)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint16, len(labels.Pix))
	for i, a := range doc.Annotations {
		if a.ID != i+1 || a.Stability == nil || len(a.Point) == 0 || (i > 0 && a.Area > doc.Annotations[i-1].Area) {
			t.Fatalf("annotation %d: id %d, stability %v, points %v, area %d; want ids in order, largest first, with scores and points",
				i, a.ID, a.Stability, a.Point, a.Area)
		}
		m, err := a.Segmentation.Decode()
		if err != nil {
			t.Fatal(err)
		}
		for p, v := range m.Pix {
			if v != 0 {
				want[p] = uint16(a.ID)
			}
		}
	}
	for p := range want {
		if labels.Pix[p] != want[p] {
			t.Fatalf("pixel %d holds %d in the PNG, want %d (the last mask covering it)", p, labels.Pix[p], want[p])
		}
	}

	// Filters that nothing passes: segment and track say so and name the
	// settings, instead of writing empty results without a word.
	t.Setenv("SAMTRACK_EVERYTHING_PRED_IOU_THRESH", "1")
	r := run(t, append(common, "--out", png)...)
	if r.code != 0 || !strings.Contains(r.stderr, "everything mode found no mask that passed its filters (everything.pred_iou_thresh 1") {
		t.Errorf("segment --everything with nothing passing: exit %d\n%s", r.code, r.stderr)
	}
	r = run(t, "track", video, "--everything", "--max-frames", "2", "--overlay=false", "--sam-encoder", p.SAMEncoder, "--sam-decoder", p.SAMDecoder,
		"--out", filepath.Join(dir, "track"))
	if r.code != 0 || !strings.Contains(r.stderr, "the run tracked no object: everything mode found no mask") {
		t.Errorf("track --everything with nothing passing: exit %d\n%s", r.code, r.stderr)
	}
}

func TestBadInputs(t *testing.T) {
	needShared(t, dogFrame, samRef+"/encoder.onnx", shared+"/data/videos/blackswan.mp4")
	dir := t.TempDir()
	enc, err := os.ReadFile(samRef + "/encoder.onnx")
	if err != nil {
		t.Fatal(err)
	}
	truncModel := filepath.Join(dir, "trunc.onnx")
	os.WriteFile(truncModel, enc[:len(enc)/2], 0o644)
	vid, _ := os.ReadFile(shared + "/data/videos/blackswan.mp4")
	truncVid := filepath.Join(dir, "trunc.mp4")
	os.WriteFile(truncVid, vid[:len(vid)*4/10], 0o644)
	textVid := filepath.Join(dir, "notes.mp4")
	os.WriteFile(textVid, []byte("this is a text file, not a video\n"), 0o644)
	out := filepath.Join(dir, "o.png")
	sam := []string{"--sam-encoder", samRef + "/encoder.onnx", "--sam-decoder", samRef + "/decoder.onnx"}

	// code: the exit code, 2 where what the command was given is wrong
	// (0: any failure)
	cases := []struct {
		name string
		args []string
		want string
		code int
	}{
		{"truncated model", []string{"segment", "--image", dogFrame, "--sam-encoder", truncModel, "--sam-decoder", samRef + "/decoder.onnx", "--point", "1,1", "--out", out}, "trunc.onnx", 0},
		{"foreign input names", []string{"segment", "--image", dogFrame, "--sam-encoder", samRef + "/decoder.onnx", "--sam-decoder", samRef + "/encoder.onnx", "--point", "1,1", "--out", out}, "expected", 0},
		{"truncated video", append([]string{"segment", "--video", truncVid, "--frame", "45", "--point", "1,1", "--out", out}, sam...), "trunc.mp4", 2},
		{"text renamed mp4", append([]string{"segment", "--video", textVid, "--frame", "0", "--point", "1,1", "--out", out}, sam...), "notes.mp4", 2},
		{"missing image", append([]string{"segment", "--image", filepath.Join(dir, "nope.jpg"), "--point", "1,1", "--out", out}, sam...), "nope.jpg", 2},
		{"point outside frame", append([]string{"segment", "--image", dogFrame, "--point", "900,100", "--out", out}, sam...), "outside", 2},
		{"box outside frame", append([]string{"segment", "--image", dogFrame, "--box", "10,10,900,100", "--out", out}, sam...), "frame", 2},
		{"bad point syntax", []string{"segment", "--image", dogFrame, "--point", "abc", "--out", out}, "--point", 2},
		{"no output", []string{"segment", "--image", dogFrame, "--point", "1,1"}, "--out", 2},
		{"unknown command", []string{"frobnicate"}, "unknown command", 2},
		{"track: missing input", []string{"track", filepath.Join(dir, "nope.mp4"), "--point", "1,1", "--out", filepath.Join(dir, "t1")}, "nope.mp4", 2},
		{"track: missing mask", []string{"track", shared + "/data/videos/blackswan.mp4", "--mask", filepath.Join(dir, "nope.png"), "--out", filepath.Join(dir, "t2")}, "nope.png", 2},
		{"track: point outside", []string{"track", shared + "/data/videos/blackswan.mp4", "--point", "900,10", "--out", filepath.Join(dir, "t3")}, "outside the 854x480 picture", 2},
		{"track: box not numbers", []string{"track", shared + "/data/videos/blackswan.mp4", "--box", "nan,1,2,3", "--out", filepath.Join(dir, "t4")}, "not a number", 2},
		{"missing model file", []string{"segment", "--image", dogFrame, "--sam-encoder", filepath.Join(dir, "nope.onnx"), "--sam-decoder", samRef + "/decoder.onnx", "--point", "1,1", "--out", out}, "nope.onnx: no such file", 2},
		{"track: missing propagator", []string{"track", shared + "/data/videos/blackswan.mp4", "--point", "100,100", "--propagator", filepath.Join(dir, "nope"), "--out", filepath.Join(dir, "t6")}, "no such file or directory; use builtin", 2},
		{"negative clicks only, no model", []string{"segment", "--image", dogFrame, "--point", "100,100,0", "--out", out}, "add a positive click or a box", 2},
		{"track: negative clicks only, no model", []string{"track", shared + "/data/videos/blackswan.mp4", "--point", "100,100,0", "--out", filepath.Join(dir, "t5")}, "add a positive click or a box", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code == 0 {
				t.Fatalf("exit 0, want failure; stderr: %s", r.stderr)
			}
			if tc.code != 0 && r.code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not mention %q:\n%s", tc.want, r.stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed run left %s behind", out)
			}
		})
	}
}

func TestModelsInspect(t *testing.T) {
	needShared(t, samRef+"/decoder.onnx")
	r := run(t, "models", "inspect", samRef+"/encoder.onnx", samRef+"/decoder.onnx", shared+"/fixtures/sam2-reference/decoder.onnx")
	if r.code != 0 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"sam1-decoder", "image_embeddings", "sam2"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestVersionAndConfig(t *testing.T) {
	r := run(t, "version")
	if r.code != 0 || !strings.Contains(r.stdout, "onnxruntime") {
		t.Fatalf("version: %d %s %s", r.code, r.stdout, r.stderr)
	}
	// The native libraries a bug report needs: Debian 12's FFmpeg 5.1 and OpenCV 4.6.
	for _, want := range []string{"\nffmpeg 5.1", "(libavcodec 59.", "\nopencv 4.6"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version lacks %q:\n%s", want, r.stdout)
		}
	}
	bad := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(bad, []byte("track:\n  sam_gapp: 3\n"), 0o644)
	r = run(t, "version", "--config", bad)
	if r.code != 2 || !strings.Contains(r.stderr, "track.sam_gapp") {
		t.Errorf("bad config: exit %d, %s", r.code, r.stderr)
	}
}
