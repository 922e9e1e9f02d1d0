package segment

import (
	"math"
	"runtime"
	"sync"
)

// kernel is a one-dimensional resampling operator with a fixed number of
// taps per output sample: out[i] = Σ_t w[i*taps+t] · in[idx[i*taps+t]].
// Two-dimensional resizes apply one kernel along x and one along y
// (separable), with the weights computed once.
type kernel struct {
	in, out, taps int
	idx           []int32
	w             []float32
}

// linearKernel is bilinear interpolation with half-pixel centres and no
// antialiasing, as torch's F.interpolate(mode="bilinear",
// align_corners=False), ONNX Resize (half_pixel, linear) and OpenCV's
// INTER_LINEAR on float data compute it: the source coordinate of output i is
// (i+0.5)·in/out − 0.5, clamped to [0, in−1].
func linearKernel(in, out int) kernel {
	k := kernel{in: in, out: out, taps: 2, idx: make([]int32, 2*out), w: make([]float32, 2*out)}
	scale := float64(in) / float64(out)
	for i := 0; i < out; i++ {
		src := (float64(i)+0.5)*scale - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		if i0 > in-1 {
			i0 = in - 1
		}
		i1 := i0 + 1
		if i1 > in-1 {
			i1 = in - 1
		}
		l := float32(src - float64(i0))
		if i0 == i1 {
			l = 0
		}
		k.idx[2*i], k.idx[2*i+1] = int32(i0), int32(i1)
		k.w[2*i], k.w[2*i+1] = 1-l, l
	}
	return k
}

// pilKernel is PIL's BILINEAR resampling (Image.resize), which torchvision
// uses for PIL images and, with antialias=True, for tensors: a triangle
// filter on half-pixel centres whose support widens by the scale factor when
// shrinking (antialiasing), weights normalised over the pixels inside the
// image. When enlarging it equals linearKernel.
func pilKernel(in, out int) kernel {
	k, _ := pilKernel64(in, out)
	return k
}

// pilKernel64 also returns the weights in double precision, from which PIL
// derives its fixed-point coefficients.
func pilKernel64(in, out int) (kernel, []float64) {
	scale := float64(in) / float64(out)
	filterscale := math.Max(scale, 1)
	support := 1.0 * filterscale
	taps := int(math.Ceil(support))*2 + 1
	k := kernel{in: in, out: out, taps: taps, idx: make([]int32, taps*out), w: make([]float32, taps*out)}
	w64 := make([]float64, taps*out)
	ss := 1 / filterscale
	ws := make([]float64, taps)
	for i := 0; i < out; i++ {
		center := (float64(i) + 0.5) * scale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > in {
			xmax = in
		}
		n := min(xmax-xmin, taps)
		sum := 0.0
		for t := 0; t < n; t++ {
			x := math.Abs((float64(t+xmin) - center + 0.5) * ss)
			w := 0.0
			if x < 1 {
				w = 1 - x
			}
			ws[t] = w
			sum += w
		}
		for t := 0; t < taps; t++ {
			j := i*taps + t
			k.idx[j] = int32(xmin)
			if t < n && sum != 0 {
				k.idx[j] = int32(xmin + t)
				w64[j] = ws[t] / sum
				k.w[j] = float32(w64[j])
			}
		}
	}
	return k, w64
}

// crop keeps the first n outputs of k.
func (k kernel) crop(n int) kernel {
	return kernel{in: k.in, out: n, taps: k.taps, idx: k.idx[:n*k.taps], w: k.w[:n*k.taps]}
}

// then returns the kernel that applies k and then outer (outer.in must be
// k.out) in one step, merging taps that reach the same input sample.
func (k kernel) then(outer kernel) kernel {
	maxTaps := outer.taps * k.taps
	type tap struct {
		i int32
		w float64
	}
	rows := make([][]tap, outer.out)
	width := 0
	for o := 0; o < outer.out; o++ {
		var ts []tap
		for a := 0; a < outer.taps; a++ {
			wo := float64(outer.w[o*outer.taps+a])
			if wo == 0 {
				continue
			}
			m := int(outer.idx[o*outer.taps+a])
			for b := 0; b < k.taps; b++ {
				wi := float64(k.w[m*k.taps+b])
				if wi == 0 {
					continue
				}
				src := k.idx[m*k.taps+b]
				merged := false
				for t := range ts {
					if ts[t].i == src {
						ts[t].w += wo * wi
						merged = true
						break
					}
				}
				if !merged {
					ts = append(ts, tap{src, wo * wi})
				}
			}
		}
		rows[o] = ts
		width = max(width, len(ts))
	}
	width = max(min(width, maxTaps), 1)
	if width == 3 {
		width = 4 // the 4-tap loops are unrolled; a zero tap costs less than the generic loop
	}
	c := kernel{in: k.in, out: outer.out, taps: width, idx: make([]int32, width*outer.out), w: make([]float32, width*outer.out)}
	for o, ts := range rows {
		for t, tp := range ts {
			c.idx[o*width+t] = tp.i
			c.w[o*width+t] = float32(tp.w)
		}
	}
	return c
}

// parallelRows runs f over [0,n) split into contiguous chunks, one
// goroutine per CPU when the work (n·cost) is large enough to pay for it.
func parallelRows(n, cost int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n*cost < 1<<16 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// resizer resizes float32 planes of one geometry with precomputed kernels.
// It holds no buffers and may be shared by goroutines.
type resizer struct {
	kx, ky kernel
}

func (r resizer) srcW() int { return r.kx.in }
func (r resizer) srcH() int { return r.ky.in }
func (r resizer) dstW() int { return r.kx.out }
func (r resizer) dstH() int { return r.ky.out }

// resize writes the resized plane to dst (dstW·dstH values) using tmp
// (srcH·dstW values) for the horizontal pass; nil tmp allocates one.
func (r resizer) resize(src, dst, tmp []float32) {
	sw, sh, dw, dh := r.kx.in, r.ky.in, r.kx.out, r.ky.out
	if len(tmp) < sh*dw {
		tmp = make([]float32, sh*dw)
	}
	kx, ky := r.kx, r.ky
	parallelRows(sh, dw*kx.taps, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			s := src[y*sw : (y+1)*sw]
			d := tmp[y*dw : (y+1)*dw]
			convolveRow(s, d, kx)
		}
	})
	parallelRows(dh, dw*ky.taps, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			verticalRow(tmp, dst[y*dw:(y+1)*dw], dw, ky, y)
		}
	})
}

// verticalRow computes output row y of the vertical pass from the rows of
// tmp (each dw wide).
func verticalRow(tmp, d []float32, dw int, ky kernel, y int) {
	base := y * ky.taps
	row := func(t int) []float32 {
		o := int(ky.idx[base+t]) * dw
		return tmp[o : o+len(d)]
	}
	switch ky.taps {
	case 2:
		w0, w1 := ky.w[base], ky.w[base+1]
		r0, r1 := row(0), row(1)
		for x := range d {
			d[x] = w0*r0[x] + w1*r1[x]
		}
	case 4:
		w0, w1, w2, w3 := ky.w[base], ky.w[base+1], ky.w[base+2], ky.w[base+3]
		r0, r1, r2, r3 := row(0), row(1), row(2), row(3)
		for x := range d {
			d[x] = w0*r0[x] + w1*r1[x] + w2*r2[x] + w3*r3[x]
		}
	default:
		clear(d)
		for t := 0; t < ky.taps; t++ {
			w := ky.w[base+t]
			if w == 0 {
				continue
			}
			r := row(t)
			for x := range d {
				d[x] += w * r[x]
			}
		}
	}
}

func convolveRow(s, d []float32, k kernel) {
	switch k.taps {
	case 2:
		for x := range d {
			j := 2 * x
			d[x] = k.w[j]*s[k.idx[j]] + k.w[j+1]*s[k.idx[j+1]]
		}
	case 4:
		for x := range d {
			j := 4 * x
			d[x] = k.w[j]*s[k.idx[j]] + k.w[j+1]*s[k.idx[j+1]] + k.w[j+2]*s[k.idx[j+2]] + k.w[j+3]*s[k.idx[j+3]]
		}
	default:
		for x := range d {
			j := k.taps * x
			var acc float32
			for t := 0; t < k.taps; t++ {
				acc += k.w[j+t] * s[k.idx[j+t]]
			}
			d[x] = acc
		}
	}
}

// resizeRGB8 resizes an interleaved RGB24 image as PIL's Image.resize with
// BILINEAR does: a horizontal pass rounded to 8 bits, then a vertical pass
// rounded to 8 bits, with PIL's 22-bit fixed-point coefficients.
func resizeRGB8(src []byte, sw, sh, dw, dh int) []byte {
	const prec = 22
	fixed := func(w64 []float64) []int32 {
		c := make([]int32, len(w64))
		for i, w := range w64 {
			v := w * (1 << prec)
			if v < 0 {
				c[i] = int32(-0.5 + v)
			} else {
				c[i] = int32(0.5 + v)
			}
		}
		return c
	}
	clip8 := func(v int64) byte {
		v >>= prec
		if v < 0 {
			return 0
		}
		if v > 255 {
			return 255
		}
		return byte(v)
	}
	kx, wx := pilKernel64(sw, dw)
	ky, wy := pilKernel64(sh, dh)
	cx, cy := fixed(wx), fixed(wy)
	tmp := make([]byte, sh*dw*3)
	parallelRows(sh, dw*kx.taps*3, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			s := src[y*sw*3 : (y+1)*sw*3]
			d := tmp[y*dw*3 : (y+1)*dw*3]
			for x := 0; x < dw; x++ {
				r, g, b := int64(1<<(prec-1)), int64(1<<(prec-1)), int64(1<<(prec-1))
				for t := 0; t < kx.taps; t++ {
					c := int64(cx[x*kx.taps+t])
					if c == 0 {
						continue
					}
					p := int(kx.idx[x*kx.taps+t]) * 3
					r += c * int64(s[p])
					g += c * int64(s[p+1])
					b += c * int64(s[p+2])
				}
				d[3*x], d[3*x+1], d[3*x+2] = clip8(r), clip8(g), clip8(b)
			}
		}
	})
	dst := make([]byte, dh*dw*3)
	parallelRows(dh, dw*ky.taps*3, func(lo, hi int) {
		acc := make([]int64, dw*3)
		for y := lo; y < hi; y++ {
			for i := range acc {
				acc[i] = 1 << (prec - 1)
			}
			for t := 0; t < ky.taps; t++ {
				c := int64(cy[y*ky.taps+t])
				if c == 0 {
					continue
				}
				row := tmp[int(ky.idx[y*ky.taps+t])*dw*3:][:dw*3]
				for i, v := range row {
					acc[i] += c * int64(v)
				}
			}
			d := dst[y*dw*3 : (y+1)*dw*3]
			for i, v := range acc {
				d[i] = clip8(v)
			}
		}
	})
	return dst
}
