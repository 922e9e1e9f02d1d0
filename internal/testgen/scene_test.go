package testgen_test

import (
	"math"
)

// This file holds the test side of the pipeline: a synthetic scene renderer
// and a local copy of SAM's preprocessing and coordinate transforms (the
// product versions live in package segment and are tested there).

type shape struct {
	name   string
	rgb    [3]float64
	inside func(x, y float64) bool // pixel centre (x+0.5, y+0.5) in frame pixels
}

func disk(cx, cy, r float64) func(x, y float64) bool {
	return func(x, y float64) bool { return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r }
}

func ellipse(cx, cy, rx, ry float64) func(x, y float64) bool {
	return func(x, y float64) bool {
		dx, dy := (x-cx)/rx, (y-cy)/ry
		return dx*dx+dy*dy <= 1
	}
}

func rect(x0, y0, x1, y1 float64) func(x, y float64) bool {
	return func(x, y float64) bool { return x >= x0 && x < x1 && y >= y0 && y < y1 }
}

type scene struct {
	w, h   int
	shapes []shape // later shapes paint over earlier ones
}

// noise is a deterministic hash in [-1, 1].
func noise(x, y, c int) float64 {
	h := uint32(x)*73856093 ^ uint32(y)*19349663 ^ uint32(c)*83492791
	h ^= h >> 13
	h *= 0x5bd1e995
	h ^= h >> 15
	return float64(h%2001)/1000 - 1
}

// render draws the shapes on a grey background with a gentle horizontal
// gradient and ±4 levels of noise everywhere.
func (s scene) render() []byte {
	img := make([]byte, s.w*s.h*3)
	for y := 0; y < s.h; y++ {
		for x := 0; x < s.w; x++ {
			t := float64(x) / float64(s.w)
			col := [3]float64{112 + 24*t, 118 + 14*t, 126 + 4*t}
			for _, sh := range s.shapes {
				if sh.inside(float64(x)+0.5, float64(y)+0.5) {
					col = sh.rgb
				}
			}
			for c := 0; c < 3; c++ {
				v := math.Round(col[c] + 4*noise(x, y, c))
				img[(y*s.w+x)*3+c] = byte(min(255, max(0, v)))
			}
		}
	}
	return img
}

// truth is the visible pixel set of the named shapes (occlusion applied).
func (s scene) truth(names ...string) []bool {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	m := make([]bool, s.w*s.h)
	for y := 0; y < s.h; y++ {
		for x := 0; x < s.w; x++ {
			top := ""
			for _, sh := range s.shapes {
				if sh.inside(float64(x)+0.5, float64(y)+0.5) {
					top = sh.name
				}
			}
			m[y*s.w+x] = want[top]
		}
	}
	return m
}

// mainScene is 640×480 with four well-separated colours and one pair of
// touching, similar colours (red and orange squares).
func mainScene() scene {
	return scene{w: 640, h: 480, shapes: []shape{
		{"yellow", [3]float64{220, 200, 40}, disk(150, 140, 80)},
		{"blue", [3]float64{40, 70, 200}, rect(300, 50, 470, 200)},
		{"green", [3]float64{50, 170, 60}, ellipse(540, 350, 80, 100)},
		{"red", [3]float64{200, 40, 40}, rect(240, 290, 360, 410)},
		{"orange", [3]float64{225, 95, 55}, rect(360, 290, 440, 410)},
	}}
}

// bilinear resizes an HWC float image with half-pixel centres and no
// antialiasing (OpenCV INTER_LINEAR, PyTorch align_corners=False).
func bilinear(src []float32, sw, sh, c, dw, dh int) []float32 {
	dst := make([]float32, dw*dh*c)
	fx, fy := float64(sw)/float64(dw), float64(sh)/float64(dh)
	for y := 0; y < dh; y++ {
		sy := math.Max((float64(y)+0.5)*fy-0.5, 0)
		y0 := min(int(sy), sh-1)
		y1 := min(y0+1, sh-1)
		wy := float32(sy - float64(y0))
		for x := 0; x < dw; x++ {
			sx := math.Max((float64(x)+0.5)*fx-0.5, 0)
			x0 := min(int(sx), sw-1)
			x1 := min(x0+1, sw-1)
			wx := float32(sx - float64(x0))
			for k := 0; k < c; k++ {
				a := src[(y0*sw+x0)*c+k]*(1-wx) + src[(y0*sw+x1)*c+k]*wx
				b := src[(y1*sw+x0)*c+k]*(1-wx) + src[(y1*sw+x1)*c+k]*wx
				dst[(y*dw+x)*c+k] = a*(1-wy) + b*wy
			}
		}
	}
	return dst
}

func toFloat(rgb []byte) []float32 {
	f := make([]float32, len(rgb))
	for i, v := range rgb {
		f[i] = float32(v)
	}
	return f
}

// samResized is the official ResizeLongestSide size.
func samResized(w, h int) (int, int) {
	s := 1024 / float64(max(w, h))
	return int(float64(w)*s + 0.5), int(float64(h)*s + 0.5)
}

// samResizeRGB resizes to the longest side 1024 (HWC, 0-255 floats).
func samResizeRGB(rgb []byte, w, h int) ([]float32, int, int) {
	nw, nh := samResized(w, h)
	return bilinear(toFloat(rgb), w, h, 3, nw, nh), nw, nh
}

// samInput is SAM v1 preprocessing: resize, normalise, zero-pad, CHW.
func samInput(rgb []byte, w, h int) []float32 {
	r, nw, nh := samResizeRGB(rgb, w, h)
	mean := [3]float32{123.675, 116.28, 103.53}
	std := [3]float32{58.395, 57.12, 57.375}
	out := make([]float32, 3*1024*1024)
	for y := 0; y < nh; y++ {
		for x := 0; x < nw; x++ {
			for c := 0; c < 3; c++ {
				out[c*1024*1024+y*1024+x] = (r[(y*nw+x)*3+c] - mean[c]) / std[c]
			}
		}
	}
	return out
}

// sam2Input is SAM 2 preprocessing: stretch to 1024², 0-1, ImageNet.
func sam2Input(rgb []byte, w, h int) []float32 {
	r := bilinear(toFloat(rgb), w, h, 3, 1024, 1024)
	mean := [3]float32{0.485, 0.456, 0.406}
	std := [3]float32{0.229, 0.224, 0.225}
	out := make([]float32, 3*1024*1024)
	for i := 0; i < 1024*1024; i++ {
		for c := 0; c < 3; c++ {
			out[c*1024*1024+i] = (r[i*3+c]/255 - mean[c]) / std[c]
		}
	}
	return out
}

// upscale256 resizes one 256×256 logit map to w×h (SAM 2 clients do this).
func upscale256(low []float32, w, h int) []float32 {
	return bilinear(low, 256, 256, 1, w, h)
}

func iou(pred, truth []bool) float64 {
	inter, union := 0, 0
	for i := range pred {
		if pred[i] && truth[i] {
			inter++
		}
		if pred[i] || truth[i] {
			union++
		}
	}
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

func threshold(logits []float32) []bool {
	m := make([]bool, len(logits))
	for i, v := range logits {
		m[i] = v > 0
	}
	return m
}

func area(m []bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
