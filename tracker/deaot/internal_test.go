package deaot

import (
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"samtrack/media"
	"samtrack/tracker/deaot/sidecar"
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

// upstreamProbs is aot-benchmark's decode_current_logits +
// soft_logit_aggregation + softmax written densely in float64: every
// engine's logits of all S slots, unused slots set to -1e10, resized
// bilinearly to fw×fh, softmax per engine; with several engines background
// = product, engines' slots 1..M concatenated, clamp, logit, softmax. It
// returns [1+E·M][fh·fw].
func upstreamProbs(logits [][]float32, used [][]bool, S, lw, lh, fw, fh int, align bool) [][]float64 {
	src := func(d, in, out int) float64 {
		if align {
			if out == 1 {
				return 0
			}
			return float64(d) * float64(in-1) / float64(out-1)
		}
		return math.Max(0, (float64(d)+0.5)*float64(in)/float64(out)-0.5)
	}
	lerp := func(lg []float32, k int, gx, gy float64) float64 {
		x0, y0 := int(gx), int(gy)
		x1, y1 := min(x0+1, lw-1), min(y0+1, lh-1)
		wx, wy := gx-float64(x0), gy-float64(y0)
		at := func(y, x int) float64 { return float64(lg[k*lw*lh+y*lw+x]) }
		return (1-wy)*((1-wx)*at(y0, x0)+wx*at(y0, x1)) + wy*((1-wx)*at(y1, x0)+wx*at(y1, x1))
	}
	E, M := len(logits), S-1
	out := make([][]float64, 1+E*M)
	for c := range out {
		out[c] = make([]float64, fw*fh)
	}
	for y := 0; y < fh; y++ {
		for x := 0; x < fw; x++ {
			gx, gy := math.Min(src(x, lw, fw), float64(lw-1)), math.Min(src(y, lh, fh), float64(lh-1))
			bg := 1.0
			var fg []float64
			for e, lg := range logits {
				v := make([]float64, S)
				mx := math.Inf(-1)
				for k := range v {
					v[k] = -1e10
					if used[e][k] {
						v[k] = lerp(lg, k, gx, gy)
					}
					mx = math.Max(mx, v[k])
				}
				sum := 0.0
				for k := range v {
					v[k] = math.Exp(v[k] - mx)
					sum += v[k]
				}
				bg *= v[0] / sum
				for k := 1; k < S; k++ {
					fg = append(fg, v[k]/sum)
				}
			}
			all := append([]float64{bg}, fg...)
			if E > 1 {
				sum := 0.0
				for c, p := range all {
					p = math.Min(math.Max(p, 1e-5), 1-1e-5)
					all[c] = p / (1 - p)
					sum += all[c]
				}
				for c := range all {
					all[c] /= sum
				}
			}
			for c, p := range all {
				out[c][y*fw+x] = p
			}
		}
	}
	return out
}

// TestDecideFollowsUpstream compares decide (resize logits, softmax,
// aggregate, argmax) with a dense float64 transcription of aot-benchmark's
// order of operations, for one engine and for two (soft aggregation), with
// a free slot in the middle of an engine.
func TestDecideFollowsUpstream(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name           string
		engines        [][]uint16 // ids per slot (index 0 unused)
		lw, lh, fw, fh int
		align          bool
	}{
		{"one engine, align corners", [][]uint16{{0, 5, 0, 7, 9}}, 9, 7, 33, 25, true},
		{"one engine, half pixel", [][]uint16{{0, 1, 2, 3, 0}}, 10, 8, 37, 29, false},
		{"two engines", [][]uint16{{0, 1, 2, 3, 4}, {0, 0, 6, 0, 0}}, 9, 7, 33, 25, true},
		{"downsampling", [][]uint16{{0, 1, 2, 0, 0}, {0, 3, 4, 5, 0}}, 20, 15, 7, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			S := len(tc.engines[0])
			p := &Propagator{man: &sidecar.Manifest{}, S: S}
			p.man.Logits.Width, p.man.Logits.Height, p.man.Logits.AlignCorners = tc.lw, tc.lh, tc.align
			logits := make([][]float32, len(tc.engines))
			used := make([][]bool, len(tc.engines))
			for e, ids := range tc.engines {
				p.st.engines = append(p.st.engines, &engine{ids: ids})
				logits[e] = make([]float32, S*tc.lw*tc.lh)
				for i := range logits[e] {
					logits[e][i] = float32(rng.NormFloat64() * 4)
				}
				used[e] = make([]bool, S)
				for k, id := range ids {
					used[e][k] = k == 0 || id != 0
				}
			}
			n := tc.fw * tc.fh
			out := make([]uint16, n)
			chans := p.decide(logits, tc.fw, tc.fh, out, nil)
			withProbs := make([]uint16, n)
			probs := make([]float32, len(chans)*n)
			p.decide(logits, tc.fw, tc.fh, withProbs, probs)
			want := upstreamProbs(logits, used, S, tc.lw, tc.lh, tc.fw, tc.fh, tc.align)
			maxDiff, wrong := 0.0, 0
			for i := 0; i < n; i++ {
				best := 0
				for c := range want {
					if want[c][i] > want[best][i] {
						best = c
					}
				}
				for c, ch := range chans {
					uc := 0 // upstream channel: engine·M + slot
					if c > 0 {
						uc = ch.engine*(S-1) + int(ch.slot)
					}
					maxDiff = math.Max(maxDiff, math.Abs(float64(probs[c*n+i])-want[uc][i]))
					if out[i] == uint16(c) && uc != best {
						wrong++
					}
				}
				if out[i] != withProbs[i] {
					t.Fatalf("pixel %d: argmax %d without probabilities, %d with", i, out[i], withProbs[i])
				}
			}
			// With several engines, probabilities within float32 rounding of
			// the clamp 1−1e-5 have odds that amplify that rounding (in
			// upstream's float32 as here); one engine is exact.
			tol := 1e-5
			if len(tc.engines) > 1 {
				tol = 1e-3
			}
			if maxDiff > tol || wrong > 0 {
				t.Errorf("max |p - upstream| = %.2g, %d of %d labels differ", maxDiff, wrong, n)
			}
		})
	}
}

func TestSampleNearestIsTorchNearest(t *testing.T) {
	// torch.nn.functional.interpolate(mode="nearest") source indices.
	tests := []struct {
		in, out int
		want    []int
	}{
		{4, 2, []int{0, 2}},
		{5, 3, []int{0, 1, 3}},
		{3, 7, []int{0, 0, 0, 1, 1, 2, 2}},
		{6, 6, []int{0, 1, 2, 3, 4, 5}},
	}
	for _, tc := range tests {
		var got []int
		for d := 0; d < tc.out; d++ {
			got = append(got, nearestSource(d, tc.in, tc.out))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%d -> %d: %v, want %v", tc.in, tc.out, got, tc.want)
		}
	}
	idx := sampleNearest(4, 2, 2, 1)
	if !slices.Equal(idx, []int32{0, 2}) {
		t.Errorf("sampleNearest(4x2 -> 2x1) = %v, want [0 2]", idx)
	}
}

func TestPreprocess(t *testing.T) {
	p := &Propagator{man: &sidecar.Manifest{}}
	p.man.Image.Height, p.man.Image.Width = 4, 6
	p.man.Image.Scale = 1.0 / 255
	p.man.Image.Mean = [3]float32{0.485, 0.456, 0.406}
	p.man.Image.Std = [3]float32{0.229, 0.224, 0.225}
	// A 3×2 frame with a horizontal ramp in red and constant green/blue.
	f := media.Frame{Image: media.Image{W: 3, H: 2, RGB: []byte{0, 10, 20, 100, 10, 20, 200, 10, 20, 0, 10, 20, 100, 10, 20, 200, 10, 20}}}
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

// BenchmarkDecide measures turning one frame's logits into labels (resize
// to the frame, softmax, aggregation, argmax) for an 854×480 frame from
// 117×209 logits (R50-DeAOT-L exported at 465×833), against preprocess in
// the same run (resizing and normalising that frame to the export size),
// per-pixel work that every frame pays as well.
//
//	go test -run '^$' -bench Decide -benchtime 20x ./tracker/deaot
func BenchmarkDecide(b *testing.B) {
	const fw, fh = 854, 480
	for _, tc := range []struct {
		name    string
		engines [][]uint16
	}{
		{"3 objects", [][]uint16{{0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0}}},
		{"12 objects", [][]uint16{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {0, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(5, 6))
			p := &Propagator{man: &sidecar.Manifest{}, S: 11}
			p.man.Logits.Height, p.man.Logits.Width, p.man.Logits.AlignCorners = 117, 209, true
			p.man.Image.Height, p.man.Image.Width, p.man.Image.Scale = 465, 833, 1.0/255
			p.man.Image.Mean, p.man.Image.Std = [3]float32{0.485, 0.456, 0.406}, [3]float32{0.229, 0.224, 0.225}
			var logits [][]float32
			for _, ids := range tc.engines {
				p.st.engines = append(p.st.engines, &engine{ids: ids})
				lg := make([]float32, 11*117*209)
				for i := range lg {
					lg[i] = float32(rng.NormFloat64() * 4)
				}
				logits = append(logits, lg)
			}
			f := media.Frame{Image: media.Image{W: fw, H: fh, RGB: make([]byte, 3*fw*fh)}}
			for i := range f.RGB {
				f.RGB[i] = byte(rng.IntN(256))
			}
			img := make([]float32, 3*465*833)
			out := make([]uint16, fw*fh)
			var decide, pre time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				p.decide(logits, fw, fh, out, nil)
				t1 := time.Now()
				p.preprocess(f, img)
				decide, pre = decide+t1.Sub(t0), pre+time.Since(t1)
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(decide), "ms/decide")
			b.ReportMetric(ms(pre), "ms/preprocess")
			b.ReportMetric(float64(decide)/float64(pre), "decide/preprocess")
		})
	}
}
