package deaot_test

import (
	"context"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/internal/testgen"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/ort"
	"samtrack/tracker/deaot"
)

// quiet drops the warnings of tests that use a small MaxLongTerm on purpose.
var quiet = slog.New(slog.DiscardHandler)

// disc is one moving object of a synthetic scene.
type disc struct {
	id     uint16
	rgb    [3]uint8
	r      float64
	cx, cy func(t int) float64
}

// scene renders coloured discs on a plain background; later discs are drawn
// on top of earlier ones.
type scene struct {
	w, h  int
	bg    [3]uint8
	discs []disc
}

// palette is twelve colours that differ clearly from each other and from
// the grey background.
var palette = [][3]uint8{
	{220, 30, 30}, {30, 170, 40}, {40, 60, 220}, {235, 215, 30},
	{200, 40, 200}, {30, 200, 210}, {245, 140, 20}, {110, 40, 160},
	{250, 250, 250}, {15, 15, 15}, {120, 70, 20}, {250, 150, 190},
}

var background = [3]uint8{128, 128, 128}

func (s scene) frame(t int) (media.Frame, *mask.LabelMap) {
	f := media.Frame{Index: t, Image: media.Image{W: s.w, H: s.h, RGB: make([]byte, s.w*s.h*3)}}
	lm := mask.NewLabelMap(s.w, s.h)
	for i := 0; i < s.w*s.h; i++ {
		copy(f.RGB[3*i:], s.bg[:])
	}
	for _, d := range s.discs {
		cx, cy := d.cx(t), d.cy(t)
		x0, x1 := max(0, int(cx-d.r)-1), min(s.w-1, int(cx+d.r)+1)
		y0, y1 := max(0, int(cy-d.r)-1), min(s.h-1, int(cy+d.r)+1)
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
				if dx*dx+dy*dy <= d.r*d.r {
					i := y*s.w + x
					copy(f.RGB[3*i:], d.rgb[:])
					lm.Pix[i] = d.id
				}
			}
		}
	}
	return f, lm
}

// oscillate moves around a centre with amplitude a and period p frames.
func oscillate(c, a, p, phase float64) func(int) float64 {
	return func(t int) float64 { return c + a*math.Sin(2*math.Pi*float64(t)/p+phase) }
}

// gridScene places n discs in a grid of cells, each oscillating inside its
// cell so that discs never overlap; ids come from ids (1..n when nil).
func gridScene(w, h, cols, rows, n int, r, amp float64, ids []uint16) scene {
	s := scene{w: w, h: h, bg: background}
	cw, ch := float64(w)/float64(cols), float64(h)/float64(rows)
	for i := 0; i < n; i++ {
		col, row := i%cols, i/cols
		id := uint16(i + 1)
		if ids != nil {
			id = ids[i]
		}
		s.discs = append(s.discs, disc{
			id: id, rgb: palette[i%len(palette)], r: r,
			cx: oscillate((float64(col)+0.5)*cw, amp, 23+float64(3*i), float64(i)),
			cy: oscillate((float64(row)+0.5)*ch, amp*0.6, 31+float64(2*i), float64(2*i)),
		})
	}
	return s
}

func openRuntime(t testing.TB) *ort.Runtime {
	t.Helper()
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(t, err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// genDir writes a generated propagator into a temporary directory.
func genDir(t testing.TB, o testgen.PropagatorOptions) string {
	t.Helper()
	dir := t.TempDir()
	if err := testgen.WritePropagator(dir, o); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openProp(t testing.TB, rt *ort.Runtime, dir string, o deaot.Options) *deaot.Propagator {
	t.Helper()
	p, err := deaot.Open(rt, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// trackResult is what tracking a scene measured.
type trackResult struct {
	meanIoU  map[uint16]float64
	minIoU   map[uint16]float64
	switches int
}

// track labels frame 0 from the ground truth and propagates the rest.
func track(t testing.TB, p *deaot.Propagator, s scene, frames int) trackResult {
	t.Helper()
	ctx := context.Background()
	f, gt := s.frame(0)
	if err := p.AddReference(ctx, f, gt); err != nil {
		t.Fatal(err)
	}
	res := trackResult{meanIoU: map[uint16]float64{}, minIoU: map[uint16]float64{}}
	for _, d := range s.discs {
		res.minIoU[d.id] = 1
	}
	for i := 1; i < frames; i++ {
		f, gt := s.frame(i)
		pred, err := p.Propagate(ctx, f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		for _, d := range s.discs {
			iou := mask.IoU(pred.Object(d.id), gt.Object(d.id))
			res.meanIoU[d.id] += iou / float64(frames-1)
			res.minIoU[d.id] = min(res.minIoU[d.id], iou)
			// An id switch: the predicted id covering most of this
			// object's true pixels is another object's.
			if best := dominant(pred, gt, d.id); best != 0 && best != d.id {
				res.switches++
			}
		}
	}
	return res
}

// dominant is the predicted object id covering most of gt's object id.
func dominant(pred, gt *mask.LabelMap, id uint16) uint16 {
	count := map[uint16]int{}
	for i, v := range gt.Pix {
		if v == id && pred.Pix[i] != 0 {
			count[pred.Pix[i]]++
		}
	}
	var best uint16
	n := 0
	for k, c := range count {
		if c > n || (c == n && k < best) {
			best, n = k, c
		}
	}
	return best
}

// rssBytes is the resident set size from /proc/self/statm.
func rssBytes(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
