package deaot

import (
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"samtrack/video"
)

func TestAxisMaps(t *testing.T) {
	tests := []struct {
		name   string
		m      axisMap
		i0, i1 []int32
		w      []float32
	}{
		{"half-pixel 2->4", halfPixelMap(4, 2), []int32{0, 0, 0, 1}, []int32{1, 1, 1, 1}, []float32{0, 0.25, 0.75, 0}},
		{"half-pixel 4->2", halfPixelMap(2, 4), []int32{0, 2}, []int32{1, 3}, []float32{0.5, 0.5}},
		{"align corners 2->3", alignCornersMap(3, 2), []int32{0, 0, 1}, []int32{1, 1, 1}, []float32{0, 0.5, 0}},
		{"align corners 1->1", alignCornersMap(1, 1), []int32{0}, []int32{0}, []float32{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !slices.Equal(tc.m.i0, tc.i0) || !slices.Equal(tc.m.i1, tc.i1) || !slices.Equal(tc.m.w, tc.w) {
				t.Errorf("got %v %v %v, want %v %v %v", tc.m.i0, tc.m.i1, tc.m.w, tc.i0, tc.i1, tc.w)
			}
		})
	}
}

func TestCellTop(t *testing.T) {
	var c cellTop
	for i, p := range []float32{0.1, 0.0001, 0.5, 0.3, 0.05, 0.04} {
		c.add(uint16(i), p)
	}
	c.prune()
	if c.n != 4 || !slices.Equal(c.ch[:], []uint16{2, 3, 0, 4}) {
		t.Errorf("top channels %v (n=%d), want [2 3 0 4]", c.ch, c.n)
	}
	if c.prob(3) != 0.3 || c.prob(1) != 0 {
		t.Errorf("prob: %v %v", c.prob(3), c.prob(1))
	}
	var d cellTop
	d.add(7, 1e-5)
	d.add(8, 1e-6)
	d.prune()
	if d.n != 1 || d.ch[0] != 7 {
		t.Errorf("prune must keep the best channel: %+v", d)
	}
}

// TestUpsampleArgmaxMatchesBruteForce compares the sparse upsampling with a
// dense bilinear interpolation of every channel followed by an argmax.
func TestUpsampleArgmaxMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		lw, lh, fw, fh int
		align          bool
	}{
		{10, 8, 37, 29, false}, {10, 8, 40, 32, false}, {9, 7, 33, 25, true}, {20, 15, 7, 5, false},
	} {
		const C = topK // every channel fits, so the result must be exact
		probs := make([][]float32, tc.lw*tc.lh)
		tops := make([]cellTop, len(probs))
		for i := range probs {
			probs[i] = make([]float32, C)
			sum := float32(0)
			for c := range probs[i] {
				v := float32(math.Pow(rng.Float64(), 3))
				probs[i][c] = v
				sum += v
			}
			for c := range probs[i] {
				probs[i][c] /= sum
				tops[i].add(uint16(c), probs[i][c])
			}
		}
		out := make([]uint16, tc.fw*tc.fh)
		upsampleArgmax(tops, tc.lw, tc.lh, tc.fw, tc.fh, tc.align, out)
		xm, ym := halfPixelMap(tc.fw, tc.lw), halfPixelMap(tc.fh, tc.lh)
		if tc.align {
			xm, ym = alignCornersMap(tc.fw, tc.lw), alignCornersMap(tc.fh, tc.lh)
		}
		wrong := 0
		for y := 0; y < tc.fh; y++ {
			for x := 0; x < tc.fw; x++ {
				best, bestP := 0, float32(-1)
				for c := 0; c < C; c++ {
					at := func(yy, xx int32) float32 { return probs[int(yy)*tc.lw+int(xx)][c] }
					top := at(ym.i0[y], xm.i0[x]) + xm.w[x]*(at(ym.i0[y], xm.i1[x])-at(ym.i0[y], xm.i0[x]))
					bot := at(ym.i1[y], xm.i0[x]) + xm.w[x]*(at(ym.i1[y], xm.i1[x])-at(ym.i1[y], xm.i0[x]))
					if v := top + ym.w[y]*(bot-top); v > bestP+1e-6 {
						best, bestP = c, v
					}
				}
				if int(out[y*tc.fw+x]) != best {
					wrong++
				}
			}
		}
		if wrong > 0 {
			t.Errorf("%+v: %d of %d pixels differ from the dense argmax", tc, wrong, tc.fw*tc.fh)
		}
	}
}

func TestPreprocess(t *testing.T) {
	p := &Propagator{man: &Manifest{}}
	p.man.Image.Height, p.man.Image.Width = 4, 6
	p.man.Image.Scale = 1.0 / 255
	p.man.Image.Mean = [3]float32{0.485, 0.456, 0.406}
	p.man.Image.Std = [3]float32{0.229, 0.224, 0.225}
	// A 3×2 frame with a horizontal ramp in red and constant green/blue.
	f := video.Frame{W: 3, H: 2, RGB: []byte{0, 10, 20, 100, 10, 20, 200, 10, 20, 0, 10, 20, 100, 10, 20, 200, 10, 20}}
	dst := make([]float32, 3*4*6)
	p.preprocess(f, dst)
	norm := func(v float32, c int) float32 { return (v/255 - p.man.Image.Mean[c]) / p.man.Image.Std[c] }
	// Row 0, columns 0..5 of red: half-pixel sampling of [0 100 200] at
	// positions -0.25, 0.25, 0.75, 1.25, 1.75, 2.25 (clamped).
	wantR := []float32{0, 25, 75, 125, 175, 200}
	for x, v := range wantR {
		if d := dst[x] - norm(v, 0); math.Abs(float64(d)) > 1e-4 {
			t.Errorf("red[0,%d] = %v, want %v", x, dst[x], norm(v, 0))
		}
	}
	if d := dst[24+3*6+5] - norm(10, 1); math.Abs(float64(d)) > 1e-4 {
		t.Errorf("green = %v, want %v", dst[24+3*6+5], norm(10, 1))
	}
}

func TestFreeSlotOrder(t *testing.T) {
	e := newEngine(4)
	e.ids[1] = 5
	e.freedAt[2] = 7 // freed recently
	e.freedAt[3] = 0 // never used
	if s := e.freeSlot(); s != 3 {
		t.Errorf("freeSlot = %d, want the never-used slot 3", s)
	}
	e.ids[3] = 6
	if s := e.freeSlot(); s != 2 {
		t.Errorf("freeSlot = %d, want 2", s)
	}
	e.ids[2] = 8
	if s := e.freeSlot(); s != -1 {
		t.Errorf("freeSlot of a full engine = %d, want -1", s)
	}
}

// TestEvictionPolicy checks the order in which long-term frames go.
func TestEvictionPolicy(t *testing.T) {
	fr := func(i int, ref bool) *memFrame { return &memFrame{index: i, ref: ref} }
	tests := []struct {
		name   string
		frames []*memFrame
		intros []int // frame positions that are some object's first reference
		max    int
		want   []int // remaining frame indices
	}{
		{"plain frames first", []*memFrame{fr(0, true), fr(5, false), fr(10, false), fr(15, false)}, []int{0}, 2, []int{0, 15}},
		{"then unpinned references", []*memFrame{fr(0, true), fr(10, true), fr(20, true), fr(25, false)}, []int{0}, 2, []int{0, 20}},
		{"first references and the latest stay", []*memFrame{fr(0, true), fr(10, true), fr(20, true), fr(30, true)}, []int{0, 1}, 3, []int{0, 10, 30}},
		{"cap wins when everything is pinned", []*memFrame{fr(0, true), fr(10, true), fr(20, true)}, []int{0, 1, 2}, 2, []int{10, 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Propagator{opts: Options{MaxLongTerm: tc.max, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
			p.st.objects = map[uint16]*object{}
			e := newEngine(11)
			for i, pos := range tc.intros {
				e.ids[i+1] = uint16(i + 1)
				p.st.objects[uint16(i+1)] = &object{eng: e, slot: i + 1, intro: tc.frames[pos]}
			}
			for _, f := range tc.frames {
				e.appendLong(f)
			}
			p.evict(e)
			var got []int
			for _, f := range e.long {
				got = append(got, f.index)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBuildLongLayout(t *testing.T) {
	e := newEngine(2)
	e.appendLong(&memFrame{k: []float32{1, 2}, v: []float32{3}, idv: []float32{4}})
	e.appendLong(&memFrame{k: []float32{5, 6}, v: []float32{7}, idv: []float32{8}})
	e.buildLong()
	if !slices.Equal(e.ltK, []float32{1, 2, 5, 6}) || !slices.Equal(e.ltV, []float32{3, 7}) || !slices.Equal(e.ltIDV, []float32{4, 8}) {
		t.Errorf("time-major concatenation: %v %v %v", e.ltK, e.ltV, e.ltIDV)
	}
	e.removeLong(0)
	e.buildLong()
	if !slices.Equal(e.ltK, []float32{5, 6}) {
		t.Errorf("after eviction: %v", e.ltK)
	}
}
