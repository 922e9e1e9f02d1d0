package flow

import (
	"math"
	"math/rand/v2"

	"samtrack/mask"
	"samtrack/media"
)

// disc is one moving textured disc of a synthetic video.
type disc struct {
	id      uint16
	x, y, r float64 // centre and radius at frame 0
	vx, vy  float64 // pixels per frame
	rgb     [3]float64
}

// synthVideo renders frames of textured discs moving over a static textured
// background, with their ground-truth labels; discs later in the list are
// drawn on top.
type synthVideo struct {
	w, h  int
	discs []disc
	bg    []byte
	tex   []float64 // disc texture, 128x128, sampled relative to the centre
}

func newSynthVideo(w, h int, discs []disc, seed uint64) *synthVideo {
	rng := rand.New(rand.NewPCG(seed, 1))
	v := &synthVideo{w: w, h: h, discs: discs, bg: make([]byte, w*h*3), tex: make([]float64, 128*128)}
	// Smooth random background: a sum of a few random plane waves plus noise.
	type wave struct{ kx, ky, ph, amp float64 }
	var waves [3][6]wave
	for c := range waves {
		for k := range waves[c] {
			waves[c][k] = wave{rng.Float64()*0.2 - 0.1, rng.Float64()*0.2 - 0.1, rng.Float64() * 6.3, 10 + rng.Float64()*20}
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				val := 110.0 + rng.Float64()*20
				for _, wv := range waves[c] {
					val += wv.amp * math.Sin(wv.kx*float64(x)+wv.ky*float64(y)+wv.ph)
				}
				v.bg[3*(y*w+x)+c] = clamp8(val)
			}
		}
	}
	for i := range v.tex {
		x, y := float64(i%128), float64(i/128)
		v.tex[i] = 25*math.Sin(x*0.45)*math.Cos(y*0.37) + rng.Float64()*16 - 8
	}
	return v
}

func clamp8(v float64) byte {
	return byte(math.Max(0, math.Min(255, math.Round(v))))
}

// centre is where disc d is at frame t; it bounces off the frame edges.
func (v *synthVideo) centre(d disc, t int) (float64, float64) {
	bounce := func(p, vel, r, size float64) float64 {
		lo, hi := r+1, size-r-1
		span := hi - lo
		q := math.Mod(p-lo+vel*float64(t), 2*span)
		if q < 0 {
			q += 2 * span
		}
		if q > span {
			q = 2*span - q
		}
		return lo + q
	}
	return bounce(d.x, d.vx, d.r, float64(v.w)), bounce(d.y, d.vy, d.r, float64(v.h))
}

// frame renders frame t and its labels.
func (v *synthVideo) frame(t int) (media.Frame, *mask.LabelMap) {
	f := media.Frame{Index: t, Image: media.Image{W: v.w, H: v.h, RGB: append([]byte(nil), v.bg...)}}
	l := mask.NewLabelMap(v.w, v.h)
	for _, d := range v.discs {
		cx, cy := v.centre(d, t)
		for y := max(0, int(cy-d.r-1)); y < min(v.h, int(cy+d.r+2)); y++ {
			for x := max(0, int(cx-d.r-1)); x < min(v.w, int(cx+d.r+2)); x++ {
				dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
				if dx*dx+dy*dy > d.r*d.r {
					continue
				}
				tx, ty := int(dx+64)&127, int(dy+64)&127
				n := v.tex[ty*128+tx]
				i := y*v.w + x
				for c := 0; c < 3; c++ {
					f.RGB[3*i+c] = clamp8(d.rgb[c] + n)
				}
				l.Pix[i] = d.id
			}
		}
	}
	return f, l
}
