//go:build !nogocv

package segment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"samtrack/mask"
	"samtrack/media"
)

// classicalSeq is one DAVIS sequence of the prompt-segmenter check: its data
// root (relative to this package) and the IoU floors per prompt kind (box,
// click, box+click) below which the regression test fails.
type classicalSeq struct {
	root, name string
}

// nineDAVIS are the first frames the classical segmenter is judged on: the
// three sequences of davis/ and the six of davis-dev/.
func nineDAVIS() []classicalSeq {
	const d, dev = "../../shared/data/davis", "../../shared/data/davis-dev"
	return []classicalSeq{
		{d, "blackswan"}, {d, "car-shadow"}, {d, "dog"},
		{dev, "breakdance"}, {dev, "camel"}, {dev, "dance-twirl"},
		{dev, "goat"}, {dev, "paragliding-launch"}, {dev, "parkour"},
	}
}

// farthestInterior is the pixel of b farthest from its boundary (the frame
// edge counts as boundary), by a two-pass chamfer distance (weights 3 and 4).
func farthestInterior(b *mask.Bitmap) (int, int) {
	d := chamferDepth(b)
	bx, by, best := 0, 0, int32(-1)
	for y := b.H - 1; y >= 0; y-- {
		for x := b.W - 1; x >= 0; x-- {
			if v := d[y*b.W+x]; v > 0 && v >= best {
				bx, by, best = x, y, v
			}
		}
	}
	return bx, by
}

// davisPrompts are the prompts derived from a ground-truth mask: its tight
// box, one positive click at its farthest interior point, and both.
func davisPrompts(truth *mask.Bitmap) (map[string]media.Prompt, error) {
	x0, y0, x1, y1, ok := truth.BBox()
	if !ok {
		return nil, fmt.Errorf("empty annotation")
	}
	cx, cy := farthestInterior(truth)
	box := &media.Box{X0: float64(x0), Y0: float64(y0), X1: float64(x1), Y1: float64(y1)}
	click := []media.Point{{X: float64(cx) + 0.5, Y: float64(cy) + 0.5, Label: 1}}
	return map[string]media.Prompt{"box": {Box: box}, "click": {Points: click}, "box+click": {Box: box, Points: click}}, nil
}

// classicalFloors are the per-sequence IoU floors of TestClassicalDAVISNine
// (box, click, box+click, then box and box+click with the next frame):
// about 0.05 under the figures in docs/BENCHMARKS.md, so that a change that
// trades one sequence for the mean fails.
var classicalFloors = map[string][5]float64{
	"blackswan":          {0.88, 0.85, 0.88, 0.88, 0.88},
	"car-shadow":         {0.72, 0.57, 0.72, 0.72, 0.75},
	"dog":                {0.83, 0.64, 0.83, 0.81, 0.81},
	"breakdance":         {0.62, 0.38, 0.62, 0.68, 0.68},
	"camel":              {0.77, 0.60, 0.77, 0.77, 0.85},
	"dance-twirl":        {0.66, 0.17, 0.65, 0.76, 0.81},
	"goat":               {0.66, 0.43, 0.66, 0.66, 0.75},
	"paragliding-launch": {0.75, 0.73, 0.75, 0.74, 0.74},
	"parkour":            {0.86, 0.80, 0.86, 0.86, 0.86},
}

// TestClassicalDAVISNine measures the classical segmenter on frame 0 of the
// nine DAVIS sequences, with prompts derived from the ground truth (the
// tight box, one click at the farthest interior point, both), and logs the
// per-sequence table of docs/BENCHMARKS.md. The prompts with a box are
// measured twice: on the frame alone (samtrack segment --image) and with
// frame 1 given as the next frame (SegmentNext, as samtrack track does). It
// fails when a sequence falls under its floor (classicalFloors) or a mean
// under issue 8's targets (0.80 box, 0.60 click, 0.82 box+click); the
// box+click target is asserted on the video path, and on the frame alone it
// is logged as a gap.
func TestClassicalDAVISNine(t *testing.T) {
	kinds := []string{"box", "click", "box+click", "box, next frame", "box+click, next frame"}
	targets := map[string]float64{"box": 0.80, "click": 0.60, "box+click": 0.82, "box, next frame": 0.80, "box+click, next frame": 0.82}
	meanFloors := map[string]float64{"box": 0.80, "click": 0.60, "box+click": 0.78, "box, next frame": 0.80, "box+click, next frame": 0.82}
	c := newClassical(t)
	if spec := os.Getenv("SEG_OPTS"); spec != "" {
		c = tunedClassical(t, spec)
	}
	sum := map[string]float64{}
	seqs := nineDAVIS()
	t.Logf("| sequence | box | click | box+click | box, next frame | box+click, next frame |")
	for _, s := range seqs {
		img := readRGB(t, filepath.Join(s.root, "JPEGImages/480p", s.name, "00000.jpg"))
		next := readRGB(t, filepath.Join(s.root, "JPEGImages/480p", s.name, "00001.jpg"))
		truth := readAnnotation(t, filepath.Join(s.root, "Annotations/480p", s.name, "00000.png"))
		prompts, err := davisPrompts(truth)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		prompts["box, next frame"] = prompts["box"]
		prompts["box+click, next frame"] = prompts["box+click"]
		row := "| " + s.name + " |"
		for ki, k := range kinds {
			var nx *media.Image
			if strings.HasSuffix(k, "next frame") {
				nx = &next
			}
			res, err := c.SegmentNext(context.Background(), img, nx, prompts[k])
			if err != nil {
				t.Fatalf("%s %s: %v", s.name, k, err)
			}
			iou := mask.IoU(res.Mask, truth)
			if d := os.Getenv("SEG_DUMP"); d != "" {
				dumpMask(t, filepath.Join(d, s.name+"-"+strings.ReplaceAll(k, ", ", "-")+".png"), res.Mask)
				tp := 0
				for i, v := range res.Mask.Pix {
					if v != 0 && truth.Pix[i] != 0 {
						tp++
					}
				}
				t.Logf("%s %s: precision %.3f recall %.3f score %.3f", s.name, k, float64(tp)/float64(max(1, res.Mask.Area())), float64(tp)/float64(truth.Area()), res.Score)
			}
			sum[k] += iou
			row += fmt.Sprintf(" %.3f |", iou)
			if fl := classicalFloors[s.name][ki]; iou < fl {
				t.Errorf("%s from %s: IoU %.3f is below its floor %.2f", s.name, k, iou, fl)
			}
		}
		t.Log(row)
	}
	row := "| **mean** |"
	for _, k := range kinds {
		m := sum[k] / float64(len(seqs))
		row += fmt.Sprintf(" **%.3f** |", m)
		if m < meanFloors[k] {
			t.Errorf("mean IoU from %s is %.3f, below its floor %.2f", k, m, meanFloors[k])
		}
		if m < targets[k] {
			t.Logf("mean IoU from %s is %.3f: issue 8's target %.2f is not met on this path", k, m, targets[k])
		}
	}
	t.Log(row)
}

// dumpMask writes m as a binary PNG (development aid behind SEG_DUMP).
func dumpMask(t *testing.T, path string, m *mask.Bitmap) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := mask.WriteBinaryPNG(f, m); err != nil {
		t.Fatal(err)
	}
}

// tunedClassical is the classical segmenter with options changed by a
// development spec such as "ell=1 it=8 margin=0.5" (SEG_OPTS).
func tunedClassical(t *testing.T, spec string) *Classical {
	o := DefaultClassicalOptions()
	for _, kv := range strings.Fields(spec) {
		k, v, _ := strings.Cut(kv, "=")
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("SEG_OPTS %s: %v", kv, err)
		}
		switch k {
		case "side":
			o.MaxSide = int(x)
		case "it":
			o.Iterations = int(x)
		case "ell":
			o.BoxEllipse = x
		case "margin":
			o.BoxMargin = x
		case "seed":
			o.SeedRadius = x
		case "pin":
			o.PinpointRounds = int(x)
		case "bias":
			o.BoxBias = x
		case "stop":
			o.StopShare = x
		case "pinshare":
			o.BiasPinShare = x
		case "island":
			o.IslandShare = x
		case "motion":
			o.MotionWeight = x
		default:
			t.Fatalf("SEG_OPTS: unknown knob %s", k)
		}
	}
	c, err := NewClassical(o)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SWEEP") == "" {
		t.Logf("options %+v", o)
	}
	return c
}
