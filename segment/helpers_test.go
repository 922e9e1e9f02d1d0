package segment

import (
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"samtrack/internal/npy"
	"samtrack/internal/testenv"
	"samtrack/media"
	"samtrack/ort"
)

const (
	samRefDir  = "../../shared/fixtures/sam-reference"
	sam2RefDir = "../../shared/fixtures/sam2-reference"
	dogFrame   = "../../shared/data/davis/JPEGImages/480p/dog/00000.jpg"
)

// openRuntime opens ONNX Runtime for a test, skipping when it is missing.
func openRuntime(t testing.TB) *ort.Runtime {
	t.Helper()
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(t, err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// needFixture skips the test when a shared fixture directory is absent.
func needFixture(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "reference.json")); err != nil {
		testenv.Missing(t, "fixture %s not available (shared data not mounted): %v", dir, err)
	}
}

// refPrompt is one prompt of a reference.json.
type refPrompt struct {
	PointCoords1024 [][]float64 `json:"point_coords_1024"`
	PointLabels     []float64   `json:"point_labels"`
	MaskInput       *string     `json:"mask_input"`
	HasMaskInput    int         `json:"has_mask_input"`
	IoU             []float64   `json:"iou_predictions"`
	MaskArea        []int       `json:"mask_area"`
	PointsInFrame   [][]float64 `json:"points_in_frame"`
	LabelsInFrame   []int       `json:"labels_in_frame"`
	MaskFiles       []string    `json:"mask_files"`
}

type refFile struct {
	OrigImSize []int                `json:"orig_im_size"`
	Prompts    map[string]refPrompt `json:"prompts"`
	BatchCheck *struct {
		PointCoords1024 [][][]float64 `json:"point_coords_1024"`
		PointLabels     [][]float64   `json:"point_labels"`
		IoU             [][]float64   `json:"iou_predictions"`
	} `json:"batch_check"`
}

func readRef(t testing.TB, dir string) *refFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r refFile
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("parse %s/reference.json: %v", dir, err)
	}
	return &r
}

// prompt converts the frame-pixel fields of a reference prompt: labels 2
// and 3 are the box corners.
func (r refPrompt) prompt(t testing.TB) media.Prompt {
	t.Helper()
	var p media.Prompt
	var tl, br []float64
	for i, xy := range r.PointsInFrame {
		switch r.LabelsInFrame[i] {
		case 0, 1:
			p.Points = append(p.Points, media.Point{X: xy[0], Y: xy[1], Label: r.LabelsInFrame[i]})
		case 2:
			tl = xy
		case 3:
			br = xy
		default:
			t.Fatalf("label %d in reference", r.LabelsInFrame[i])
		}
	}
	if tl != nil && br != nil {
		p.Box = &media.Box{X0: tl[0], Y0: tl[1], X1: br[0], Y1: br[1]}
	}
	return p
}

// readMaskPNG reads a 0/255 mask PNG as booleans.
func readMaskPNG(t testing.TB, path string) (w, h int, in []bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	im, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	b := im.Bounds()
	w, h = b.Dx(), b.Dy()
	in = make([]bool, w*h)
	g, isGray := im.(*image.Gray)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if isGray {
				in[y*w+x] = g.Pix[y*g.Stride+x] > 127
				continue
			}
			r, _, _, _ := im.At(b.Min.X+x, b.Min.Y+y).RGBA()
			in[y*w+x] = r > 0x7fff
		}
	}
	return w, h, in
}

// agreement is the fraction of pixels where logits > 0 equals the mask.
func agreement(logits []float32, ref []bool) float64 {
	same := 0
	for i, v := range logits {
		if (v > 0) == ref[i] {
			same++
		}
	}
	return float64(same) / float64(len(ref))
}

func relL2(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		n += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / n)
}

func meanAbsDiff(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += math.Abs(float64(a[i] - b[i]))
	}
	return s / float64(len(a))
}

func mustNpy(t testing.TB, path string) *npy.Array {
	t.Helper()
	a, err := npy.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
