package deaot

import (
	"math"

	"samtrack/mask"
	"samtrack/video"
)

// axisMap maps every destination index of one axis to its two source
// neighbours and the weight of the second.
type axisMap struct {
	i0, i1 []int32
	w      []float32
}

// halfPixelMap is PyTorch's bilinear align_corners=False (and OpenCV's
// INTER_LINEAR) sampling of src cells at dst positions.
func halfPixelMap(dst, src int) axisMap {
	m := axisMap{make([]int32, dst), make([]int32, dst), make([]float32, dst)}
	scale := float64(src) / float64(dst)
	for d := 0; d < dst; d++ {
		g := (float64(d)+0.5)*scale - 0.5
		m.set(d, g, src)
	}
	return m
}

// alignCornersMap is PyTorch's bilinear align_corners=True sampling.
func alignCornersMap(dst, src int) axisMap {
	m := axisMap{make([]int32, dst), make([]int32, dst), make([]float32, dst)}
	scale := 0.0
	if dst > 1 {
		scale = float64(src-1) / float64(dst-1)
	}
	for d := 0; d < dst; d++ {
		m.set(d, float64(d)*scale, src)
	}
	return m
}

func (m axisMap) set(d int, g float64, src int) {
	if g < 0 {
		g = 0
	}
	if g > float64(src-1) {
		g = float64(src - 1)
	}
	i0 := int(math.Floor(g))
	i1 := i0 + 1
	if i1 > src-1 {
		i1 = src - 1
	}
	m.i0[d], m.i1[d], m.w[d] = int32(i0), int32(i1), float32(g-float64(i0))
}

// preprocess resizes an RGB24 frame bilinearly to the export size and
// normalises it into a planar [1,3,H,W] tensor: (v·scale − mean)/std.
func (p *Propagator) preprocess(f video.Frame, dst []float32) {
	H, W := p.man.Image.Height, p.man.Image.Width
	if p.imgMaps.fw != f.W || p.imgMaps.fh != f.H {
		p.imgMaps.fw, p.imgMaps.fh = f.W, f.H
		p.imgMaps.x = halfPixelMap(W, f.W)
		p.imgMaps.y = halfPixelMap(H, f.H)
	}
	xm, ym := p.imgMaps.x, p.imgMaps.y
	var mul, add [3]float32
	for c := 0; c < 3; c++ {
		mul[c] = p.man.Image.Scale / p.man.Image.Std[c]
		add[c] = -p.man.Image.Mean[c] / p.man.Image.Std[c]
	}
	plane := H * W
	stride := f.W * 3
	for y := 0; y < H; y++ {
		r0 := f.RGB[int(ym.i0[y])*stride:]
		r1 := f.RGB[int(ym.i1[y])*stride:]
		wy := ym.w[y]
		row := y * W
		for x := 0; x < W; x++ {
			a, b := int(xm.i0[x])*3, int(xm.i1[x])*3
			wx := xm.w[x]
			for c := 0; c < 3; c++ {
				top := float32(r0[a+c]) + wx*(float32(r0[b+c])-float32(r0[a+c]))
				bot := float32(r1[a+c]) + wx*(float32(r1[b+c])-float32(r1[a+c]))
				v := top + wy*(bot-top)
				dst[c*plane+row+x] = v*mul[c] + add[c]
			}
		}
	}
}

// sampleNearest returns, for each cell of an oh×ow grid, the index of the
// frame pixel at its centre (PyTorch's nearest for integer ratios).
func sampleNearest(fw, fh, ow, oh int) []int32 {
	idx := make([]int32, ow*oh)
	for y := 0; y < oh; y++ {
		sy := int((float64(y) + 0.5) * float64(fh) / float64(oh))
		if sy >= fh {
			sy = fh - 1
		}
		for x := 0; x < ow; x++ {
			sx := int((float64(x) + 0.5) * float64(fw) / float64(ow))
			if sx >= fw {
				sx = fw - 1
			}
			idx[y*ow+x] = int32(sy*fw + sx)
		}
	}
	return idx
}

// topK is how many channels a logit cell keeps for upsampling; channels
// below minProb are dropped (their interpolated probability is at most
// minProb, too little to win an argmax against the kept ones except on
// exact ties).
const (
	topK    = 4
	minProb = 1e-3
)

// cellTop is the most probable channels of one logit cell, descending.
type cellTop struct {
	n  uint8
	ch [topK]uint16
	p  [topK]float32
}

func (c *cellTop) add(ch uint16, p float32) {
	if c.n == topK && p <= c.p[topK-1] {
		return
	}
	i := int(c.n)
	if c.n < topK {
		c.n++
	} else {
		i = topK - 1
	}
	for i > 0 && c.p[i-1] < p {
		c.ch[i], c.p[i] = c.ch[i-1], c.p[i-1]
		i--
	}
	c.ch[i], c.p[i] = ch, p
}

// prune drops channels under minProb, keeping at least the best one.
func (c *cellTop) prune() {
	for c.n > 1 && c.p[c.n-1] < minProb {
		c.n--
	}
}

func (c *cellTop) prob(ch uint16) float32 {
	for i := 0; i < int(c.n); i++ {
		if c.ch[i] == ch {
			return c.p[i]
		}
	}
	return 0
}

// upsampleArgmax interpolates the per-cell probabilities bilinearly from the
// lh×lw logit grid to fw×fh and writes each pixel's most probable channel.
func upsampleArgmax(tops []cellTop, lw, lh, fw, fh int, alignCorners bool, out []uint16) {
	var xm, ym axisMap
	if alignCorners {
		xm, ym = alignCornersMap(fw, lw), alignCornersMap(fh, lh)
	} else {
		xm, ym = halfPixelMap(fw, lw), halfPixelMap(fh, lh)
	}
	var cand [4 * topK]uint16
	for y := 0; y < fh; y++ {
		r0, r1 := int(ym.i0[y])*lw, int(ym.i1[y])*lw
		wy := ym.w[y]
		for x := 0; x < fw; x++ {
			c00, c01 := &tops[r0+int(xm.i0[x])], &tops[r0+int(xm.i1[x])]
			c10, c11 := &tops[r1+int(xm.i0[x])], &tops[r1+int(xm.i1[x])]
			best := c00.ch[0]
			// Fast path: one channel holds more than half the mass at every
			// corner, so it holds more than half everywhere between them.
			if c01.ch[0] == best && c10.ch[0] == best && c11.ch[0] == best &&
				c00.p[0] > 0.5 && c01.p[0] > 0.5 && c10.p[0] > 0.5 && c11.p[0] > 0.5 {
				out[y*fw+x] = best
				continue
			}
			wx := xm.w[x]
			w00, w01 := (1-wx)*(1-wy), wx*(1-wy)
			w10, w11 := (1-wx)*wy, wx*wy
			n := 0
			for _, c := range [4]*cellTop{c00, c01, c10, c11} {
				for i := 0; i < int(c.n); i++ {
					ch := c.ch[i]
					dup := false
					for _, o := range cand[:n] {
						if o == ch {
							dup = true
							break
						}
					}
					if !dup {
						cand[n] = ch
						n++
					}
				}
			}
			bestP := float32(-1)
			for _, ch := range cand[:n] {
				v := w00*c00.prob(ch) + w01*c01.prob(ch) + w10*c10.prob(ch) + w11*c11.prob(ch)
				if v > bestP || (v == bestP && ch < best) {
					best, bestP = ch, v
				}
			}
			out[y*fw+x] = best
		}
	}
}

// validFrame checks a frame's geometry.
func validFrame(f video.Frame) bool {
	return f.W > 0 && f.H > 0 && f.W <= 1<<15 && f.H <= 1<<15 && len(f.RGB) == f.W*f.H*3
}

// validLabels checks a label map against the frame it labels.
func validLabels(l *mask.LabelMap, f video.Frame) bool {
	return l != nil && l.W == f.W && l.H == f.H && len(l.Pix) == l.W*l.H
}
