package deaot

import (
	"math"

	"samtrack/mask"
	"samtrack/media"
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
func (p *Propagator) preprocess(f media.Frame, dst []float32) {
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
// frame pixel it samples: PyTorch's F.interpolate(mode="nearest"), source
// index floor(dst·in/out) in float32, as aot-benchmark's evaluator resizes
// a frame's labels to the engine's input size.
func sampleNearest(fw, fh, ow, oh int) []int32 {
	idx := make([]int32, ow*oh)
	sxs := make([]int, ow)
	for x := range sxs {
		sxs[x] = nearestSource(x, fw, ow)
	}
	for y := 0; y < oh; y++ {
		row := nearestSource(y, fh, oh) * fw
		for x, sx := range sxs {
			idx[y*ow+x] = int32(row + sx)
		}
	}
	return idx
}

// nearestSource is PyTorch's nearest source index for output index d.
func nearestSource(d, in, out int) int {
	scale := float32(in) / float32(out)
	return min(int(math.Floor(float64(float32(d)*scale))), in-1)
}

// validFrame checks a frame's geometry.
func validFrame(f media.Frame) bool {
	return f.W > 0 && f.H > 0 && f.W <= 1<<15 && f.H <= 1<<15 && len(f.RGB) == f.W*f.H*3
}

// validLabels checks a label map against the frame it labels.
func validLabels(l *mask.LabelMap, f media.Frame) bool {
	return l != nil && l.W == f.W && l.H == f.H && len(l.Pix) == l.W*l.H
}
