package export

import (
	"context"
	"math"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/internal/testgen"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/ort"
	"samtrack/segment"
	"samtrack/tracker"
	"samtrack/tracker/flow"
	"samtrack/video"
)

// shape is one moving solid shape of the test scenes.
type shape struct {
	rgb  [3]float64
	disk bool
	r    float64 // half side or radius
	pos  func(t int) (float64, float64)
}

func lin(t0 int, x0, y0, vx, vy float64) func(int) (float64, float64) {
	return func(t int) (float64, float64) {
		d := float64(max(0, t-t0))
		return x0 + vx*d, y0 + vy*d
	}
}

type scene struct {
	w, h   int
	shapes []shape
}

func hash(x, y, c int) float64 {
	h := uint32(x)*73856093 ^ uint32(y)*19349663 ^ uint32(c)*83492791
	h ^= h >> 13
	h *= 0x5bd1e995
	h ^= h >> 15
	return float64(h%2001)/1000 - 1
}

// frame renders frame t and its ground truth (id k+1 for shapes[k]).
func (s *scene) frame(t int) (media.Frame, *mask.LabelMap) {
	rgb := make([]byte, s.w*s.h*3)
	gt := mask.NewLabelMap(s.w, s.h)
	for y := 0; y < s.h; y++ {
		for x := 0; x < s.w; x++ {
			col := [3]float64{118, 120, 126}
			px, py := float64(x)+0.5, float64(y)+0.5
			for k, sh := range s.shapes {
				cx, cy := sh.pos(t)
				dx, dy := px-cx, py-cy
				in := math.Abs(dx) < sh.r && math.Abs(dy) < sh.r
				if sh.disk {
					in = dx*dx+dy*dy <= sh.r*sh.r
				}
				if in {
					col = sh.rgb
					gt.Pix[y*s.w+x] = uint16(k + 1)
				}
			}
			for c := 0; c < 3; c++ {
				v := math.Round(col[c] + 3*hash(x+5*t, y, c))
				rgb[(y*s.w+x)*3+c] = byte(min(255, max(0, v)))
			}
		}
	}
	return media.Frame{Index: t, Image: media.Image{W: s.w, H: s.h, RGB: rgb}}, gt
}

// smallScene is a 48x36 scene of two squares for the quick export tests.
func smallScene() *scene {
	return &scene{w: 48, h: 36, shapes: []shape{
		{rgb: [3]float64{200, 40, 40}, r: 6, pos: lin(0, 10, 10, 0.25, 0.1)},
		{rgb: [3]float64{40, 60, 200}, r: 5, pos: lin(0, 36, 24, -0.2, 0)},
	}}
}

// maskTracker is a tracker without SAM: the ground truth of frame 0 is
// given as a mask, with its ids replaced by ids.
func maskTracker(t testing.TB, s *scene, ids ...uint16) *tracker.Tracker {
	t.Helper()
	o := tracker.DefaultOptions()
	o.Discover = false
	p, err := flow.New(flow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	tr, err := tracker.New(o, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, gt := s.frame(0)
	for i, v := range gt.Pix {
		if v != 0 {
			gt.Pix[i] = ids[v-1]
		}
	}
	if err := tr.AddMask(0, gt); err != nil {
		t.Fatal(err)
	}
	return tr
}

// samSegmenter opens the generated SAM test models.
func samSegmenter(t testing.TB, pointsPerSide int) *segment.SAMSegmenter {
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
	m, err := segment.Open(rt, p.SAMEncoder, p.SAMDecoder, segment.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	eo := segment.DefaultEverythingOptionsFor(segment.FormatSAM1)
	eo.PointsPerSide = pointsPerSide
	seg, err := segment.NewSAMSegmenter(rt, m, eo, segment.DefaultPredictOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

// runFrames tracks frames [from, to) of s and writes them.
func runFrames(t testing.TB, tr *tracker.Tracker, run *Run, s *scene, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		f, _ := s.frame(i)
		res, err := tr.Step(context.Background(), f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if err := run.WriteFrame(f, res); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
}

func newFlowT(t testing.TB) *flow.Propagator {
	t.Helper()
	p, err := flow.New(flow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// videoEncoder is the overlay encoder pipeline gives a run: video's H.264
// writer.
func videoEncoder(path string, w, h, outW, outH int, fps float64) (FrameEncoder, error) {
	wr, err := video.NewScaledWriter(path, w, h, outW, outH, fps)
	if err != nil {
		return nil, err
	}
	return wr, nil
}
