package flow

import (
	"image"
	"math"

	"gocv.io/x/gocv"
)

// link holds the dense correspondence between the current frame and one
// earlier frame: backward and forward DIS flow at flow resolution, and, for
// the regions being processed, their forward-backward consistency and the
// remap coordinates at full resolution.
type link struct {
	back, fwd gocv.Mat  // CV_32FC2 at flow resolution: current -> earlier, earlier -> current
	mapXY     gocv.Mat  // CV_32FC2 full resolution: where each pixel comes from
	consSmall []float32 // flow resolution: 1 where the two flows agree
	cons      []float32 // full resolution
	sw, sh    int
	w, h      int
	taps      []tap // scratch
}

func newLink(w, h, sw, sh int) link {
	return link{
		back:      gocv.NewMatWithSize(sh, sw, gocv.MatTypeCV32FC2),
		fwd:       gocv.NewMatWithSize(sh, sw, gocv.MatTypeCV32FC2),
		mapXY:     gocv.NewMatWithSize(h, w, gocv.MatTypeCV32FC2),
		consSmall: make([]float32, sw*sh),
		cons:      make([]float32, w*h),
		sw:        sw, sh: sh, w: w, h: h,
	}
}

func (l *link) close() {
	l.back.Close()
	l.fwd.Close()
	l.mapXY.Close()
}

// compute runs DIS both ways between cur and earlier (grey, flow
// resolution).
func (l *link) compute(d *dis, cur, earlier gocv.Mat) error {
	if err := d.calc(cur, earlier, &l.back); err != nil {
		return err
	}
	return d.calc(earlier, cur, &l.fwd)
}

// toSmall maps a full-resolution region to the flow-resolution region that
// covers it, with a margin of pad pixels.
func (l *link) toSmall(r image.Rectangle, pad int) image.Rectangle {
	sx, sy := float64(l.sw)/float64(l.w), float64(l.sh)/float64(l.h)
	s := image.Rect(int(math.Floor(float64(r.Min.X)*sx)), int(math.Floor(float64(r.Min.Y)*sy)),
		int(math.Ceil(float64(r.Max.X)*sx)), int(math.Ceil(float64(r.Max.Y)*sy)))
	return s.Inset(-pad).Intersect(image.Rect(0, 0, l.sw, l.sh))
}

// maxBack is the largest backward displacement, in full-resolution pixels,
// inside the full-resolution region r.
func (l *link) maxBack(r image.Rectangle) (float32, error) {
	b, err := l.back.DataPtrFloat32()
	if err != nil {
		return 0, err
	}
	s := l.toSmall(r, 0)
	var m float32
	for y := s.Min.Y; y < s.Max.Y; y++ {
		row := b[2*(y*l.sw+s.Min.X) : 2*(y*l.sw+s.Max.X)]
		for i := 0; i < len(row); i += 2 {
			m = max(m, row[i]*row[i]+row[i+1]*row[i+1])
		}
	}
	scale := max(float32(l.w)/float32(l.sw), float32(l.h)/float32(l.sh))
	return float32(math.Sqrt(float64(m))) * scale, nil
}

// prepare computes, inside the full-resolution region roi, the remap
// coordinates (mapXY) and the consistency (cons) of the flows: a pixel is
// inconsistent (occluded in the earlier frame, or a flow error) when
// |f+b|² > alpha(|f|²+|b|²) + beta.
func (l *link) prepare(roi image.Rectangle, alpha, beta float32) error {
	b, err := l.back.DataPtrFloat32()
	if err != nil {
		return err
	}
	f, err := l.fwd.DataPtrFloat32()
	if err != nil {
		return err
	}
	m, err := l.mapXY.DataPtrFloat32()
	if err != nil {
		return err
	}
	sw, sh := l.sw, l.sh
	s := l.toSmall(roi, 2)
	for y := s.Min.Y; y < s.Max.Y; y++ {
		for x := s.Min.X; x < s.Max.X; x++ {
			i := y*sw + x
			bx, by := b[2*i], b[2*i+1]
			px, py := float32(x)+bx, float32(y)+by
			if px < 0 || py < 0 || px > float32(sw-1) || py > float32(sh-1) {
				l.consSmall[i] = 0
				continue
			}
			fx, fy := sample2(f, sw, sh, px, py)
			dx, dy := fx+bx, fy+by
			if dx*dx+dy*dy > alpha*(bx*bx+by*by+fx*fx+fy*fy)+beta {
				l.consSmall[i] = 0
			} else {
				l.consSmall[i] = 1
			}
		}
	}
	// Full resolution, sampling as cv::resize with INTER_LINEAR does; the
	// column taps are the same on every row.
	kx, ky := float32(sw)/float32(l.w), float32(sh)/float32(l.h)
	ux, uy := 1/kx, 1/ky
	n := roi.Dx()
	if cap(l.taps) < n {
		l.taps = make([]tap, n)
	}
	cols := l.taps[:n]
	for j := range cols {
		x0, _, x1, _, ax, _ := taps(sw, sh, (float32(roi.Min.X+j)+0.5)*kx-0.5, 0)
		cols[j] = tap{int32(x0), int32(x1), ax}
	}
	for y := roi.Min.Y; y < roi.Max.Y; y++ {
		_, y0, _, y1, _, ay := taps(sw, sh, 0, (float32(y)+0.5)*ky-0.5)
		r0, r1 := y0*sw, y1*sw
		fy := float32(y)
		base := y*l.w + roi.Min.X
		mrow := m[2*base : 2*(base+n)]
		crow := l.cons[base : base+n]
		for j, c := range cols {
			ax := c.a
			a00, a01 := (1-ax)*(1-ay), ax*(1-ay)
			a10, a11 := (1-ax)*ay, ax*ay
			i00, i01, i10, i11 := int(c.x0)+r0, int(c.x1)+r0, int(c.x0)+r1, int(c.x1)+r1
			u := b[2*i00]*a00 + b[2*i01]*a01 + b[2*i10]*a10 + b[2*i11]*a11
			v := b[2*i00+1]*a00 + b[2*i01+1]*a01 + b[2*i10+1]*a10 + b[2*i11+1]*a11
			mrow[2*j] = float32(roi.Min.X+j) + u*ux
			mrow[2*j+1] = fy + v*uy
			cs := l.consSmall
			crow[j] = cs[i00]*a00 + cs[i01]*a01 + cs[i10]*a10 + cs[i11]*a11
		}
	}
	return nil
}

// tap is the horizontal part of a bilinear sample.
type tap struct {
	x0, x1 int32
	a      float32
}

// sample2 samples a two-channel float image bilinearly at (x, y), clamped
// to the image.
func sample2(f []float32, w, h int, x, y float32) (float32, float32) {
	x0, y0, x1, y1, ax, ay := taps(w, h, x, y)
	i00, i01, i10, i11 := 2*(y0*w+x0), 2*(y0*w+x1), 2*(y1*w+x0), 2*(y1*w+x1)
	u := (f[i00]*(1-ax)+f[i01]*ax)*(1-ay) + (f[i10]*(1-ax)+f[i11]*ax)*ay
	v := (f[i00+1]*(1-ax)+f[i01+1]*ax)*(1-ay) + (f[i10+1]*(1-ax)+f[i11+1]*ax)*ay
	return u, v
}

// sample1 samples a one-channel float image bilinearly at (x, y), clamped
// to the image.
func sample1(f []float32, w, h int, x, y float32) float32 {
	x0, y0, x1, y1, ax, ay := taps(w, h, x, y)
	return (f[y0*w+x0]*(1-ax)+f[y0*w+x1]*ax)*(1-ay) + (f[y1*w+x0]*(1-ax)+f[y1*w+x1]*ax)*ay
}

func taps(w, h int, x, y float32) (x0, y0, x1, y1 int, ax, ay float32) {
	x = min(max(x, 0), float32(w-1))
	y = min(max(y, 0), float32(h-1))
	x0, y0 = int(x), int(y)
	ax, ay = x-float32(x0), y-float32(y0)
	x1, y1 = min(x0+1, w-1), min(y0+1, h-1)
	return
}
