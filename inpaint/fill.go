package inpaint

import (
	"fmt"
	"math"

	"samtrack/mask"
	"samtrack/media"
)

// fill produces the output for win[ti]: hole pixels from the nearest frames
// of the window that show them, then from the previous output, then
// synthesised.
func (f *Filler) fill(ti int) (media.Frame, error) {
	s := f.win[ti]
	out := media.Frame{Index: s.f.Index, PTS: s.f.PTS, Name: s.f.Name, Image: media.Image{W: f.w, H: f.h, RGB: append([]byte(nil), s.f.RGB...)}}
	need := s.hole.Clone()
	n := int64(need.Area())
	f.stats.Frames++
	f.stats.Hole += n
	var prevFlow []float32
	for _, d := range distances(f.opts.Window) {
		if n == 0 {
			break
		}
		for _, si := range [2]int{ti - d, ti + d} {
			if n == 0 || si < 0 || si >= len(f.win) {
				continue
			}
			fl, err := f.flowBetween(s, f.win[si])
			if err != nil {
				return out, fmt.Errorf("inpaint: frame %d: %w", s.f.Index, err)
			}
			if si == ti-1 {
				prevFlow = fl
			}
			got := f.borrow(out.RGB, need, fl, f.win[si].f.RGB, f.win[si].guard)
			f.stats.Temporal += got
			n -= got
		}
	}
	if n > 0 && f.prev != nil && prevFlow != nil {
		got := f.borrow(out.RGB, need, prevFlow, f.prev, nil)
		f.stats.Carried += got
		n -= got
	}
	if n > 0 {
		if err := f.opts.Synth.Synthesize(out.RGB, f.w, f.h, need); err != nil {
			return out, fmt.Errorf("inpaint: frame %d: %w", s.f.Index, err)
		}
		f.stats.Synthesised += n
	}
	f.prev = out.RGB
	return out, nil
}

// distances are the frame distances a frame borrows from, nearest first:
// every one up to 4, then about 25% further each step (the background an
// object uncovers changes slowly with distance, and each one costs an
// optical flow).
func distances(window int) []int {
	var ds []int
	for d := 1; d <= window; d = max(d+1, int(math.Ceil(float64(d)*1.25))) {
		ds = append(ds, d)
	}
	return ds
}

// flowBetween is the flow-scale flow from a to b (a at x shows what b shows
// at x + flow). Inside a's hole the flow follows the object, and inside b's
// hole b shows the object, not what a shows; there, and in a band around
// them (where the object's own motion and its shadow or reflection leak
// into the flow), the flow is the background's: a homography fitted with
// RANSAC to the flow everywhere else, or, when no homography fits, a
// smooth fill from around the holes.
func (f *Filler) flowBetween(a, b *slot) ([]float32, error) {
	if err := f.dis.Calc(a.grey, b.grey, &f.flow); err != nil {
		return nil, err
	}
	raw, err := f.flow.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("read optical flow: %w", err)
	}
	fl := append([]float32(nil), raw[:f.sw*f.sh*2]...)
	both := mask.NewBitmap(f.sw, f.sh)
	for i := range both.Pix {
		both.Pix[i] = a.small.Pix[i] | b.small.Pix[i]
	}
	band, err := both.DilateDisk(max(4, f.sw/40))
	if err != nil {
		return nil, err
	}
	if h, ok := backgroundHomography(fl, band.Pix, f.sw, f.sh); ok {
		applyHomography(fl, both.Pix, f.sw, f.sh, h)
		return fl, nil
	}
	pushPull(fl, both.Pix, f.sw, f.sh)
	return fl, nil
}

// borrow copies into dst every still-needed pixel whose flow-displaced
// position in src is inside the frame and (when srcHole is given) clear of
// src's hole; it returns how many it filled and clears them from need.
func (f *Filler) borrow(dst []byte, need *mask.Bitmap, fl []float32, src []byte, srcHole *mask.Bitmap) int64 {
	var got int64
	kx, ky := float64(f.sw)/float64(f.w), float64(f.sh)/float64(f.h)
	for y := 0; y < f.h; y++ {
		for x := 0; x < f.w; x++ {
			i := y*f.w + x
			if need.Pix[i] == 0 {
				continue
			}
			fx, fy := sample2(fl, f.sw, f.sh, (float64(x)+0.5)*kx-0.5, (float64(y)+0.5)*ky-0.5)
			qx, qy := float64(x)+fx/kx, float64(y)+fy/ky
			if qx < 0 || qy < 0 || qx > float64(f.w-1) || qy > float64(f.h-1) {
				continue
			}
			x0, y0 := int(qx), int(qy)
			x1, y1 := min(x0+1, f.w-1), min(y0+1, f.h-1)
			if srcHole != nil && (srcHole.Pix[y0*f.w+x0]|srcHole.Pix[y0*f.w+x1]|srcHole.Pix[y1*f.w+x0]|srcHole.Pix[y1*f.w+x1]) != 0 {
				continue
			}
			ax, ay := qx-float64(x0), qy-float64(y0)
			for c := 0; c < 3; c++ {
				v := (1-ay)*((1-ax)*float64(src[(y0*f.w+x0)*3+c])+ax*float64(src[(y0*f.w+x1)*3+c])) +
					ay*((1-ax)*float64(src[(y1*f.w+x0)*3+c])+ax*float64(src[(y1*f.w+x1)*3+c]))
				dst[i*3+c] = byte(math.Round(v))
			}
			need.Pix[i] = 0
			got++
		}
	}
	return got
}

// sample2 reads a two-channel float image bilinearly, clamping at the edges.
func sample2(v []float32, w, h int, x, y float64) (float64, float64) {
	x = math.Max(0, math.Min(x, float64(w-1)))
	y = math.Max(0, math.Min(y, float64(h-1)))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, w-1), min(y0+1, h-1)
	ax, ay := x-float64(x0), y-float64(y0)
	var out [2]float64
	for c := 0; c < 2; c++ {
		out[c] = (1-ay)*((1-ax)*float64(v[(y0*w+x0)*2+c])+ax*float64(v[(y0*w+x1)*2+c])) +
			ay*((1-ax)*float64(v[(y1*w+x0)*2+c])+ax*float64(v[(y1*w+x1)*2+c]))
	}
	return out[0], out[1]
}

// pushPull replaces the values of a two-channel float image where unknown
// is non-zero by a smooth fill from the known values around them (a
// push-pull pyramid: average the known values down until none is unknown,
// then fill back up).
func pushPull(v []float32, unknown []uint8, w, h int) {
	some, all := false, true
	for _, u := range unknown {
		if u != 0 {
			some = true
		} else {
			all = false
		}
	}
	if !some {
		return
	}
	if all || (w <= 1 && h <= 1) {
		for i := range v {
			if unknown[i/2] != 0 {
				v[i] = 0
			}
		}
		return
	}
	cw, ch := (w+1)/2, (h+1)/2
	cv := make([]float32, cw*ch*2)
	cu := make([]uint8, cw*ch)
	for cy := 0; cy < ch; cy++ {
		for cx := 0; cx < cw; cx++ {
			var s [2]float32
			k := 0
			for y := 2 * cy; y < min(2*cy+2, h); y++ {
				for x := 2 * cx; x < min(2*cx+2, w); x++ {
					if unknown[y*w+x] == 0 {
						s[0] += v[(y*w+x)*2]
						s[1] += v[(y*w+x)*2+1]
						k++
					}
				}
			}
			if k == 0 {
				cu[cy*cw+cx] = 1
				continue
			}
			cv[(cy*cw+cx)*2], cv[(cy*cw+cx)*2+1] = s[0]/float32(k), s[1]/float32(k)
		}
	}
	pushPull(cv, cu, cw, ch)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if unknown[y*w+x] != 0 {
				fx, fy := sample2(cv, cw, ch, (float64(x)+0.5)/2-0.5, (float64(y)+0.5)/2-0.5)
				v[(y*w+x)*2], v[(y*w+x)*2+1] = float32(fx), float32(fy)
			}
		}
	}
}

// Close frees the optical flow and the held frames; it is idempotent.
func (f *Filler) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	for _, s := range f.win {
		if s != nil {
			s.grey.Close()
		}
	}
	f.win = nil
	f.flow.Close()
	err := f.dis.Close()
	if cerr := f.opts.Synth.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
