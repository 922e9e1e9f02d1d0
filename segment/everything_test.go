package segment

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/internal/testgen"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/ort"
)

// evShape is a solid shape painted on the synthetic everything-mode scene.
type evShape struct {
	name    string
	rgb     [3]byte
	ellipse bool
	x0, y0  int
	x1, y1  int // exclusive
}

func (s evShape) contains(x, y int) bool {
	if x < s.x0 || x >= s.x1 || y < s.y0 || y >= s.y1 {
		return false
	}
	if !s.ellipse {
		return true
	}
	cx, cy := float64(s.x0+s.x1-1)/2, float64(s.y0+s.y1-1)/2
	rx, ry := float64(s.x1-s.x0)/2, float64(s.y1-s.y0)/2
	dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry
	return dx*dx+dy*dy <= 1
}

// evScene is a 640×480 frame with five well-separated solid shapes of
// distinct colours on a grey background, a 10×10 blob of the first shape's
// colour standing apart from it (an island of that shape's masks), and a
// 6×6 background-coloured hole inside the second shape.
type evScene struct {
	img    media.Image
	shapes []evShape
	truth  []*mask.Bitmap // per shape, the pixels painted with its colour in the shape
	blob   evShape
	hole   evShape
}

func newEvScene() *evScene {
	const w, h = 640, 480
	bg := [3]byte{128, 128, 128}
	s := &evScene{
		shapes: []evShape{
			{"red box", [3]byte{220, 30, 30}, false, 40, 40, 200, 170},
			{"green ellipse", [3]byte{30, 200, 40}, true, 260, 30, 420, 180},
			{"blue box", [3]byte{30, 40, 220}, false, 470, 60, 600, 200},
			{"yellow ellipse", [3]byte{230, 220, 30}, true, 60, 260, 260, 440},
			{"black box", [3]byte{15, 15, 15}, false, 330, 270, 560, 420},
		},
	}
	s.blob = evShape{"red blob", [3]byte{220, 30, 30}, false, 215, 200, 225, 210}
	s.hole = evShape{"hole", bg, false, 337, 102, 343, 108}
	s.img = media.Image{W: w, H: h, RGB: make([]byte, w*h*3)}
	for i := 0; i < w*h; i++ {
		copy(s.img.RGB[i*3:], bg[:])
	}
	paint := func(sh evShape) {
		for y := sh.y0; y < sh.y1; y++ {
			for x := sh.x0; x < sh.x1; x++ {
				if sh.contains(x, y) {
					copy(s.img.RGB[(y*w+x)*3:], sh.rgb[:])
				}
			}
		}
	}
	for _, sh := range s.shapes {
		paint(sh)
	}
	paint(s.blob)
	paint(s.hole)
	for _, sh := range s.shapes {
		b := mask.NewBitmap(w, h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if sh.contains(x, y) && !s.hole.contains(x, y) {
					b.Pix[y*w+x] = 1
				}
			}
		}
		s.truth = append(s.truth, b)
	}
	return s
}

// evModels writes the generated test models once per test.
func evModels(t testing.TB) (*ort.Runtime, testgen.Paths) {
	t.Helper()
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(t, err)
	}
	t.Cleanup(func() { rt.Close() })
	p, err := testgen.WriteDir(t.TempDir())
	if err != nil {
		t.Fatalf("generate test models: %v", err)
	}
	return rt, p
}

func evOpen(t testing.TB, rt *ort.Runtime, enc, dec string) Model {
	t.Helper()
	m, err := Open(rt, enc, dec, OpenOptions{Threads: 1})
	if err != nil {
		t.Fatalf("open generated model: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// countingModel counts Encode calls of a real model.
type countingModel struct {
	Model
	encodes atomic.Int32
}

func (c *countingModel) Encode(ctx context.Context, img media.Image) (*Embedding, error) {
	c.encodes.Add(1)
	return c.Model.Encode(ctx, img)
}

// evOpts are SAM's defaults with a 12-point grid to keep the tests quick
// (the grid spacing, 53×40 px, still puts several points in every shape).
func evOpts() media.EverythingOptions {
	o := DefaultEverythingOptionsFor(FormatSAM1)
	o.PointsPerSide = 12
	return o
}

func TestEverythingFindsEachShapeOnce(t *testing.T) {
	rt, p := evModels(t)
	sc := newEvScene()
	for _, tc := range []struct {
		name string
		dec  string
		enc  string
	}{
		{"sam1", p.SAMDecoder, p.SAMEncoder},
		{"sam2", p.SAM2Decoder, p.SAM2Encoder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &countingModel{Model: evOpen(t, rt, tc.enc, tc.dec)}
			segs, err := Everything(context.Background(), m, sc.img, evOpts())
			if err != nil {
				t.Fatal(err)
			}
			if n := m.encodes.Load(); n != 1 {
				t.Errorf("encoder ran %d times for one frame with crop_n_layers 0, want 1", n)
			}
			checkShapesOnce(t, sc, segs)
		})
	}
}

// checkShapesOnce asserts that each shape is matched by exactly one
// segment (IoU ≥ 0.9) and that no other segment overlaps it much.
func checkShapesOnce(t *testing.T, sc *evScene, segs []media.Segment) {
	t.Helper()
	for i, sh := range sc.shapes {
		best, matches := 0.0, 0
		for _, s := range segs {
			iou := mask.IoU(s.Mask, sc.truth[i])
			best = math.Max(best, iou)
			if iou >= 0.5 {
				matches++
			}
		}
		if best < 0.9 {
			t.Errorf("%s: best segment IoU %.3f, want ≥ 0.9", sh.name, best)
		}
		if matches != 1 {
			t.Errorf("%s: %d segments with IoU ≥ 0.5, want exactly 1 (duplicates survived NMS)", sh.name, matches)
		}
	}
	for i := range segs {
		s := segs[i]
		if s.Area != s.Mask.Area() {
			t.Errorf("segment %d: Area %d but mask has %d pixels", i, s.Area, s.Mask.Area())
		}
		if s.PredictedIoU <= 0.88 || s.StabilityScore < 0.95 {
			t.Errorf("segment %d: predicted IoU %.3f / stability %.3f below the thresholds", i, s.PredictedIoU, s.StabilityScore)
		}
		for j := i + 1; j < len(segs); j++ {
			if iou := mask.IoU(s.Mask, segs[j].Mask); iou > 0.9 {
				t.Errorf("segments %d and %d are duplicates (IoU %.3f)", i, j, iou)
			}
		}
	}
	t.Logf("%d segments", len(segs))
}

func TestEverythingSmallRegions(t *testing.T) {
	rt, p := evModels(t)
	sc := newEvScene()
	m := evOpen(t, rt, p.SAMEncoder, p.SAMDecoder)
	emb, err := m.Encode(context.Background(), sc.img)
	if err != nil {
		t.Fatal(err)
	}
	red := func(segs []media.Segment) *media.Segment {
		for i := range segs {
			if mask.IoU(segs[i].Mask, sc.truth[0]) >= 0.5 {
				return &segs[i]
			}
		}
		t.Fatal("no segment matches the red box")
		return nil
	}
	inside := func(s *media.Segment, sh evShape) int {
		n := 0
		for y := sh.y0; y < sh.y1; y++ {
			for x := sh.x0; x < sh.x1; x++ {
				n += int(s.Mask.Pix[y*s.Mask.W+x])
			}
		}
		return n
	}
	// The generator is the quick path; TestEverythingGeneratorMatchesPortable
	// shows it gives the portable path's segments.
	run := func(o media.EverythingOptions) []media.Segment {
		g, err := NewGenerator(rt, m, o, GeneratorOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		segs, _, err := g.Run(context.Background(), sc.img, emb)
		if err != nil {
			t.Fatal(err)
		}
		return segs
	}
	o := evOpts()
	plain := run(o)
	o.MinMaskRegionArea = 200
	clean := run(o)
	before, after := red(plain), red(clean)
	if n := inside(before, sc.blob); n < 50 {
		t.Fatalf("without min_mask_region_area the red segment holds %d of the red blob's 100 pixels; the scene does not exercise island removal", n)
	}
	if n := inside(after, sc.blob); n != 0 {
		t.Errorf("with min_mask_region_area 200 the red segment still holds %d pixels of the 100-pixel red island", n)
	}
	if after.Area != after.Mask.Area() {
		t.Errorf("cleaned segment: Area %d but mask has %d pixels", after.Area, after.Mask.Area())
	}
	checkShapesOnce(t, sc, clean)
}

// sameSegments fails unless a and b are the same segments in the same order.
func sameSegments(t *testing.T, what string, a, b []media.Segment) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d segments against %d", what, len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Area != y.Area || x.BBox != y.BBox || x.CropBox != y.CropBox || x.PredictedIoU != y.PredictedIoU ||
			x.StabilityScore != y.StabilityScore || x.PointCoords[0] != y.PointCoords[0] || mask.IoU(x.Mask, y.Mask) != 1 {
			t.Errorf("%s: segment %d differs: area %d/%d bbox %v/%v iou %v/%v stability %v/%v point %v/%v",
				what, i, x.Area, y.Area, x.BBox, y.BBox, x.PredictedIoU, y.PredictedIoU, x.StabilityScore, y.StabilityScore, x.PointCoords, y.PointCoords)
		}
	}
}

// closeSegments is sameSegments up to float rounding: predicted IoUs
// within 1e-4, stability scores within 1e-3, masks with pixel IoU ≥ 0.999.
func closeSegments(t *testing.T, what string, a, b []media.Segment) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d segments against %d", what, len(a), len(b))
	}
	worst := 1.0
	for i := range a {
		x, y := a[i], b[i]
		iou := mask.IoU(x.Mask, y.Mask)
		worst = min(worst, iou)
		if math.Abs(x.PredictedIoU-y.PredictedIoU) > 1e-4 || math.Abs(x.StabilityScore-y.StabilityScore) > 1e-3 ||
			x.CropBox != y.CropBox || x.PointCoords[0] != y.PointCoords[0] || iou < 0.999 {
			t.Errorf("%s: segment %d differs: area %d/%d bbox %v/%v iou %v/%v stability %v/%v point %v/%v mask IoU %.5f",
				what, i, x.Area, y.Area, x.BBox, y.BBox, x.PredictedIoU, y.PredictedIoU, x.StabilityScore, y.StabilityScore, x.PointCoords, y.PointCoords, iou)
		}
	}
	t.Logf("%s: %d segments, lowest mask IoU %.6f", what, len(a), worst)
}

func TestEverythingGeneratorMatchesPortable(t *testing.T) {
	rt, p := evModels(t)
	sc := newEvScene()
	m := evOpen(t, rt, p.SAMEncoder, p.SAMDecoder)
	ctx := context.Background()
	emb, err := m.Encode(ctx, sc.img)
	if err != nil {
		t.Fatal(err)
	}
	o := evOpts()
	o.PointsPerSide = 12
	want, err := EverythingWithEmbedding(ctx, m, sc.img, emb, o)
	if err != nil {
		t.Fatal(err)
	}
	// A higher IoU threshold makes the IoU-only pass reject points, so both
	// passes of the specialised decoder run.
	strict := o
	strict.PredIoUThresh = new(0.993)
	wantStrict, err := EverythingWithEmbedding(ctx, m, sc.img, emb, strict)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opts    media.EverythingOptions
		want    []media.Segment
		noSplit bool
	}{{"default", o, want, false}, {"strict", strict, wantStrict, false}, {"strict-nosplit", strict, wantStrict, true}} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGenerator(rt, m, tc.opts, GeneratorOptions{Workers: 2, NoSplit: tc.noSplit})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if !g.Specialised() {
				t.Fatal("generator did not specialise the generated SAM v1 decoder")
			}
			if split := g.sc.(*sam1PointScorer).pre != nil; split == tc.noSplit {
				t.Fatalf("decoder split = %v, want %v", split, !tc.noSplit)
			}
			got, st, err := g.Run(ctx, sc.img, emb)
			if err != nil {
				t.Fatal(err)
			}
			sameSegments(t, "generator vs portable", tc.want, got)
			if st.Encodes != 0 || st.Points != 144 || st.IoUCalls+st.MaskCalls < 144 {
				t.Errorf("stats %+v: want no encoder run and 144 points decoded", st)
			}
			t.Logf("%d segments; stats %+v", len(got), st)
			// With the strict threshold the IoU-only pass rejects most
			// points, which then never reach the mask pass (the adaptive
			// rule may still send a late batch straight to masks).
			if tc.name != "default" && (st.IoUCalls == 0 || st.MaskCalls >= 144 || st.MaskCalls == 0) {
				t.Errorf("strict threshold: %d IoU-only and %d mask calls; want an IoU-only pass and masks for only some points", st.IoUCalls, st.MaskCalls)
			}
		})
	}
}

func TestEverythingCropLayers(t *testing.T) {
	rt, p := evModels(t)
	sc := newEvScene()
	m := &countingModel{Model: evOpen(t, rt, p.SAMEncoder, p.SAMDecoder)}
	o := evOpts()
	o.PointsPerSide = 8
	o.CropNLayers = 1
	o.CropNPointsDownscaleFactor = 2
	segs, err := EverythingWithEmbedding(context.Background(), m, sc.img, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if n := m.encodes.Load(); n != 5 {
		t.Errorf("encoder ran %d times, want 5 (frame + 4 crops)", n)
	}
	crops := map[[4]int]int{}
	for _, s := range segs {
		crops[s.CropBox]++
		if s.Mask.W != sc.img.W || s.Mask.H != sc.img.H {
			t.Fatalf("segment mask is %dx%d, want frame size", s.Mask.W, s.Mask.H)
		}
		if x0, y0, _, _, ok := s.Mask.BBox(); !ok || x0 != s.BBox[0] || y0 != s.BBox[1] {
			t.Errorf("segment bbox %v does not match its mask", s.BBox)
		}
	}
	t.Logf("%d segments from crops %v", len(segs), crops)
	// A frame a few pixels wide has empty deep crops; they are skipped.
	tiny := media.Image{W: 5, H: 3, RGB: make([]byte, 5*3*3)}
	to := o
	to.PointsPerSide, to.CropNLayers = 4, 2
	if _, err := Everything(context.Background(), m, tiny, to); err != nil {
		t.Errorf("5x3 frame with two crop layers: %v", err)
	}
	for i, sh := range sc.shapes {
		best := 0.0
		for _, s := range segs {
			best = math.Max(best, mask.IoU(s.Mask, sc.truth[i]))
		}
		if best < 0.9 {
			t.Errorf("%s: best segment IoU %.3f with crop layers, want ≥ 0.9", sh.name, best)
		}
	}
}

func TestCropBoxesAndGrid(t *testing.T) {
	boxes, layers := cropBoxes(854, 480, 1, 512.0/1500)
	want := []cropBox{{0, 0, 854, 480}, {0, 0, 509, 322}, {0, 159, 509, 480}, {346, 0, 854, 322}, {346, 159, 854, 480}}
	if len(boxes) != len(want) {
		t.Fatalf("got %d crop boxes %v, want %v", len(boxes), boxes, want)
	}
	for i := range want {
		if boxes[i] != want[i] || layers[i] != min(i, 1) {
			t.Errorf("crop %d: %v layer %d, want %v layer %d", i, boxes[i], layers[i], want[i], min(i, 1))
		}
	}
	if n := len(func() []cropBox { b, _ := cropBoxes(854, 480, 2, 512.0/1500); return b }()); n != 21 {
		t.Errorf("two crop layers give %d boxes, want 1+4+16", n)
	}
	g := pointGrid(2, 100, 50)
	wantG := [][2]float64{{25, 12.5}, {75, 12.5}, {25, 37.5}, {75, 37.5}}
	for i := range wantG {
		if g[i] != wantG[i] {
			t.Errorf("grid point %d = %v, want %v", i, g[i], wantG[i])
		}
	}
	if g := pointGrid(32, 1, 1); math.Abs(g[0][0]-1.0/64) > 1e-12 || math.Abs(g[31][0]-63.0/64) > 1e-12 {
		t.Errorf("32-point grid spans %v..%v, want 1/64..63/64", g[0][0], g[31][0])
	}
}

// TestEverythingArguments: a nil model is refused, and crops stay inside
// the frame. (The options' own checks are media's TestEverythingOptionsValidate.)
func TestEverythingArguments(t *testing.T) {
	if _, err := Everything(context.Background(), nil, media.Image{W: 1, H: 1, RGB: make([]byte, 3)}, DefaultEverythingOptionsFor(FormatSAM1)); err == nil {
		t.Error("nil model accepted")
	}
	for _, c := range func() []cropBox { b, _ := cropBoxes(3, 2, 2, 512.0/1500); return b }() {
		if c[0] < 0 || c[1] < 0 || c[2] > 3 || c[3] > 2 {
			t.Errorf("crop %v of a 3x2 frame leaves the frame", c)
		}
	}
}

func TestNMSAndStability(t *testing.T) {
	boxes := [][4]int{{0, 0, 10, 10}, {1, 1, 11, 11}, {20, 20, 30, 30}, {0, 0, 10, 10}}
	// Boxes 0 and 1 overlap with IoU 81/119 = 0.68 (kept at 0.7); box 3
	// duplicates box 0 and ties its score, so the earlier index wins.
	keep := nms(boxes, []float64{0.5, 0.9, 0.7, 0.5}, 0.7)
	if want := []int{1, 2, 0}; fmt.Sprint(keep) != fmt.Sprint(want) {
		t.Errorf("nms kept %v, want %v", keep, want)
	}
	if keep := nms(boxes, []float64{0.5, 0.9, 0.7, 0.5}, 0.6); fmt.Sprint(keep) != "[1 2]" {
		t.Errorf("nms at 0.6 kept %v, want [1 2]", keep)
	}
	if s := stability([]float32{2, 0.5, -0.5, -2}, 1); s != 1.0/3 {
		t.Errorf("stability %v, want 1/3", s)
	}
	if s := stability([]float32{-5, -5}, 1); s != 0 {
		t.Errorf("stability of an empty mask %v, want 0", s)
	}
	runs, area, box := binarise([]float32{0, 1, 1, -1, 0, 0, 1, 0}, 4, 2)
	if area != 3 || box != [4]int{1, 0, 2, 1} || len(runs) != 4 {
		t.Errorf("binarise: runs %v area %d box %v", runs, area, box)
	}
	c := cropBox{0, 0, 500, 300}
	if !nearCropEdge([4]int{100, 100, 490, 200}, c, 854, 480) {
		t.Error("box within 20 px of the inner crop edge x=500 was kept")
	}
	if nearCropEdge([4]int{0, 0, 100, 100}, c, 854, 480) {
		t.Error("box on the frame edge was dropped")
	}
}
