package tracker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/internal/testgen"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/ort"
	"samtrack/segment"
	"samtrack/tracker/deaot"
	"samtrack/tracker/flow"
)

// samModels generates the test SAM models into a temporary directory and
// opens the SAM v1 pair with ONNX Runtime.
func samModels(t testing.TB) (*ort.Runtime, segment.Model) {
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
		t.Fatalf("open generated SAM model: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return rt, m
}

// testEverything are SAM's everything-mode defaults with a 12-point grid
// (27x20 px spacing on 320x240, a point in every whole shape) to keep the
// tests quick: the generated decoder costs about 12 ms a click.
func testEverything() media.EverythingOptions {
	o := segment.DefaultEverythingOptionsFor(segment.FormatSAM1)
	o.PointsPerSide = 12
	return o
}

func newFlow(t testing.TB) *flow.Propagator {
	t.Helper()
	p, err := flow.New(flow.Options{})
	if err != nil {
		t.Fatalf("flow propagator: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// newDeAOT opens the generated DeAOT-contract ONNX propagator.
func newDeAOT(t testing.TB) *deaot.Propagator {
	t.Helper()
	dir := t.TempDir()
	if err := testgen.WritePropagator(dir, testgen.PropagatorOptions{Height: 240, Width: 320}); err != nil {
		t.Fatalf("generate propagator: %v", err)
	}
	rt, err := ort.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	p, err := deaot.Open(rt, dir, deaot.Options{})
	if err != nil {
		t.Fatalf("open generated propagator: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// trackRun is the output of tracking a synthetic scene.
type trackRun struct {
	results []*FrameResult
	gts     []*mask.LabelMap
}

func trackScene(t testing.TB, tr *Tracker, s *synthScene) *trackRun {
	t.Helper()
	run := &trackRun{}
	for i := 0; i < s.n; i++ {
		f, gt := s.frame(i)
		res, err := tr.Step(context.Background(), f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		run.results = append(run.results, res)
		run.gts = append(run.gts, gt)
	}
	return run
}

// gtEval is the evaluation of one ground-truth object.
type gtEval struct {
	name     string
	ids      []uint16 // tracker ids that matched it (IoU ≥ 0.5) on some frame
	meanIoU  float64
	frames   int   // frames counted in meanIoU
	latency  []int // per visibility run: frames from becoming discoverable to found
	returned bool  // it left, came back and was found again under the same id
}

func iouIDs(pred, gt *mask.LabelMap, p, g uint16) (float64, int, int) {
	inter, union, pa := 0, 0, 0
	for i, v := range pred.Pix {
		a, b := v == p, gt.Pix[i] == g
		if a {
			pa++
		}
		if a && b {
			inter++
		}
		if a || b {
			union++
		}
	}
	if union == 0 {
		return 1, 0, 0
	}
	return float64(inter) / float64(union), inter, pa
}

// evaluate matches tracker ids to ground-truth objects and scores them.
// A ground-truth object becomes discoverable on the first frame of a
// visibility run where at least minArea of it is visible and a click of
// everything mode's pointsPerSide grid falls on it; frames of a run
// before the tracker finds it are excluded from the mean IoU and reported as
// latency instead. Every other frame from the first detection on where the
// object is visible or predicted counts.
func evaluate(s *synthScene, run *trackRun, minArea, pointsPerSide int) []gtEval {
	out := make([]gtEval, len(s.movers))
	for k := range s.movers {
		g := uint16(k + 1)
		ev := gtEval{name: s.movers[k].name}
		// the tracker id of this object: the id with the largest overlap
		// over the whole video
		overlap := map[uint16]int{}
		claim := map[uint16]bool{}
		for t, res := range run.results {
			gt := run.gts[t]
			for i, v := range gt.Pix {
				if v == g && res.Labels.Pix[i] != 0 {
					overlap[res.Labels.Pix[i]]++
				}
			}
			for _, o := range res.Objects {
				if iou, _, _ := iouIDs(res.Labels, gt, o.ID, g); iou >= 0.5 {
					claim[o.ID] = true
				}
			}
		}
		var id uint16
		for p, n := range overlap {
			if id == 0 || n > overlap[id] || n == overlap[id] && p < id {
				id = p
			}
		}
		for p := range claim {
			ev.ids = append(ev.ids, p)
		}
		sort.Slice(ev.ids, func(a, b int) bool { return ev.ids[a] < ev.ids[b] })
		// visibility runs
		sum, n := 0.0, 0
		found := false
		runs := 0
		for t := 0; t < len(run.results); {
			area := func(t int) int {
				c := 0
				for _, v := range run.gts[t].Pix {
					if v == g {
						c++
					}
				}
				return c
			}
			if area(t) == 0 {
				// not visible: a prediction here is a false positive
				if id != 0 {
					iou, _, pa := iouIDs(run.results[t].Labels, run.gts[t], id, g)
					if pa > 0 && found {
						sum += iou
						n++
					}
				}
				t++
				continue
			}
			start := t
			end := t
			for end < len(run.results) && area(end) > 0 {
				end++
			}
			runs++
			disc := -1
			for u := start; u < end; u++ {
				if area(u) >= minArea && onGrid(run.gts[u], g, pointsPerSide) {
					disc = u
					break
				}
			}
			seen := -1
			for u := start; u < end; u++ {
				iou, _, pa := iouIDs(run.results[u].Labels, run.gts[u], id, g)
				if seen < 0 && pa > 0 && iou >= 0.5 {
					seen = u
				}
				if seen >= 0 {
					sum += iou
					n++
				}
			}
			if disc >= 0 {
				if seen < 0 {
					ev.latency = append(ev.latency, end-disc)
				} else {
					ev.latency = append(ev.latency, max(0, seen-disc))
				}
			}
			if seen >= 0 {
				if found && runs > 1 {
					ev.returned = true
				}
				found = true
			}
			t = end
		}
		if n > 0 {
			ev.meanIoU = sum / float64(n)
		}
		ev.frames = n
		out[k] = ev
	}
	return out
}

func (e gtEval) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s ids %v mean IoU %.3f over %d frames, latency %v", e.name, e.ids, e.meanIoU, e.frames, e.latency)
	if e.returned {
		b.WriteString(", returned")
	}
	return b.String()
}

// frameOf renders a plain frame of one colour with a square of another.
func squareFrame(index, w, h, x0, y0, side int) media.Frame {
	f := media.Frame{Index: index, Image: media.Image{W: w, H: h, RGB: make([]byte, w*h*3)}}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := [3]byte{120, 120, 125}
			if x >= x0 && x < x0+side && y >= y0 && y < y0+side {
				c = [3]byte{200, 40, 40}
			}
			copy(f.RGB[(y*w+x)*3:], c[:])
		}
	}
	return f
}

func segmentPredictDefaults() segment.PredictOptions { return segment.DefaultPredictOptions() }

// onGrid reports whether a click of everything mode's n×n grid lands on id.
func onGrid(l *mask.LabelMap, id uint16, n int) bool {
	for j := 0; j < n; j++ {
		y := int((float64(j) + 0.5) / float64(n) * float64(l.H))
		for i := 0; i < n; i++ {
			x := int((float64(i) + 0.5) / float64(n) * float64(l.W))
			if l.Pix[y*l.W+x] == id {
				return true
			}
		}
	}
	return false
}
