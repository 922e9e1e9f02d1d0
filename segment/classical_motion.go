//go:build !nogocv

package segment

import (
	"errors"
	"fmt"
	"image"
	"math"
	"slices"

	"gocv.io/x/gocv"

	"samtrack/tracker/flow"
)

// The residual-motion histograms have 1-px bins over [-motionRange,
// motionRange]² working pixels; larger residuals fall in the edge bins.
const (
	motionRange = 10
	motionBins  = 2*motionRange + 1
)

// motionHist is a histogram of residual motion vectors, one class's motion
// model.
type motionHist struct {
	n     [motionBins * motionBins]float64
	total float64
}

func motionBin(r [2]float32) int {
	bx := min(max(int(math.Round(float64(r[0])))+motionRange, 0), motionBins-1)
	by := min(max(int(math.Round(float64(r[1])))+motionRange, 0), motionBins-1)
	return by*motionBins + bx
}

// motionBinsOf is every pixel's histogram bin, worked out once: the
// residuals do not change between GrabCut's rounds.
func motionBinsOf(res [][2]float32) []uint16 {
	bins := make([]uint16, len(res))
	for i, r := range res {
		bins[i] = uint16(motionBin(r))
	}
	return bins
}

// logProb is the log probability of bin b, with one pseudo-count a bin so
// that an empty bin is unlikely, not impossible.
func (m *motionHist) logProb(b int) float64 {
	return math.Log((m.n[b] + 1) / (m.total + motionBins*motionBins))
}

// motionMode says how a motionCue models each class's motion.
type motionMode int

const (
	// motionLearned refits both classes' histograms to the current
	// labels every round, as GrabCut does its colour models.
	motionLearned motionMode = iota
	// motionFixedBG fixes the background's histogram to the pixels
	// outside the box (definite background) and takes the foreground's
	// as uniform: what moves unlike the surroundings leans to the object.
	motionFixedBG
)

// motionCue is the motion evidence of a box prompt on a video frame: the
// histogram bin of every working pixel's motion towards the next frame,
// less the motion of the surroundings (residualMotion, motionBinsOf), and
// per class a histogram whose log probability, times weight, joins the
// colour models' terms.
type motionCue struct {
	bins   []uint16
	weight float64
	mode   motionMode
	fg, bg *motionHist
}

// fork is a copy for another run: it shares the bins and refits its own
// histograms.
func (m *motionCue) fork() *motionCue {
	if m == nil {
		return nil
	}
	f := *m
	f.fg, f.bg = nil, nil
	return &f
}

// learn fits the histograms to labels (in motionFixedBG, once).
func (m *motionCue) learn(labels []byte) {
	if m.mode == motionFixedBG {
		if m.bg != nil {
			return
		}
		m.fg, m.bg = &motionHist{}, &motionHist{}
		for i, v := range labels {
			if v == gcBGD {
				m.bg.n[m.bins[i]]++
				m.bg.total++
			}
		}
		return // fg stays empty: logProb is then uniform
	}
	m.fg, m.bg = &motionHist{}, &motionHist{}
	for i, v := range labels {
		h := m.bg
		if isFG(v) {
			h = m.fg
		}
		h.n[m.bins[i]]++
		h.total++
	}
}

// terms is the weighted motion log-likelihood of pixel i under the
// foreground and the background (0, 0 before the first learn).
func (m *motionCue) terms(i int) (fg, bg float64) {
	if m == nil || m.fg == nil {
		return 0, 0
	}
	b := int(m.bins[i])
	return m.weight * m.fg.logProb(b), m.weight * m.bg.logProb(b)
}

// residualMotion is the dense optical flow (DIS, medium preset) from work
// to next, both w×h RGB, less the affine motion fitted by least squares to
// the definite background seeds (gcBGD: outside the box), refitted twice to
// the pixels within twice the median residual so that other movers
// outside the box do not bend it. Without enough background (a box over
// the whole frame) the residual is the flow itself.
func residualMotion(work, next []byte, w, h int, seeds []byte) ([][2]float32, error) {
	f, err := denseFlow(work, next, w, h)
	if err != nil {
		return nil, err
	}
	use := make([]bool, w*h)
	for i, v := range seeds {
		use[i] = v == gcBGD
	}
	var a, b [3]float64 // u = a·(1, x, y), v = b·(1, x, y)
	at := func(i int) (du, dv float64) {
		x, y := float64(i%w), float64(i/w)
		return float64(f[2*i]) - (a[0] + a[1]*x + a[2]*y), float64(f[2*i+1]) - (b[0] + b[1]*x + b[2]*y)
	}
	for range 3 {
		var ata [9]float64
		var atu, atv [3]float64
		n := 0
		for i, ok := range use {
			if !ok {
				continue
			}
			row := [3]float64{1, float64(i % w), float64(i / w)}
			for p := range 3 {
				for q := range 3 {
					ata[3*p+q] += row[p] * row[q]
				}
				atu[p] += row[p] * float64(f[2*i])
				atv[p] += row[p] * float64(f[2*i+1])
			}
			n++
		}
		if n < gcMinSamples {
			break
		}
		na, oka := solve3(ata, atu)
		nb, okb := solve3(ata, atv)
		if !oka || !okb {
			break // keep the last fit (none: the flow itself)
		}
		a, b = na, nb
		var rs []float64
		for i, v := range seeds {
			if v == gcBGD {
				rs = append(rs, math.Hypot(at(i)))
			}
		}
		sorted := slices.Clone(rs)
		slices.Sort(sorted)
		limit := 2*sorted[len(sorted)/2] + 0.1
		k := 0
		for i, v := range seeds {
			if v == gcBGD {
				use[i] = rs[k] <= limit
				k++
			}
		}
	}
	res := make([][2]float32, w*h)
	for i := range res {
		du, dv := at(i)
		res[i] = [2]float32{float32(du), float32(dv)}
	}
	return res, nil
}

// denseFlow is the DIS flow from a to b (w×h RGB), two floats a pixel.
func denseFlow(a, b []byte, w, h int) ([]float32, error) {
	grey := func(rgb []byte) (gocv.Mat, error) {
		m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, rgb)
		if err != nil {
			return gocv.Mat{}, err
		}
		defer m.Close()
		g := gocv.NewMat()
		gocv.CvtColor(m, &g, gocv.ColorRGBToGray)
		return g, nil
	}
	g0, err := grey(a)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: wrap frame: %w", err)
	}
	defer g0.Close()
	g1, err := grey(b)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: wrap next frame: %w", err)
	}
	defer g1.Close()
	d, err := flow.NewDense(flow.PresetMedium)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: %w", err)
	}
	defer d.Close()
	out := gocv.NewMat()
	defer out.Close()
	if err := d.Calc(g0, g1, &out); err != nil {
		return nil, fmt.Errorf("classical segmenter: optical flow: %w", err)
	}
	fl, err := out.DataPtrFloat32()
	if err != nil || len(fl) != 2*w*h {
		return nil, errors.New("classical segmenter: OpenCV returned no optical flow of the frame's size")
	}
	return slices.Clone(fl), nil
}

// solve3 solves the 3×3 system m·x = r by Cramer's rule; ok is false when
// m is singular.
func solve3(m [9]float64, r [3]float64) (x [3]float64, ok bool) {
	det := func(m [9]float64) float64 {
		return m[0]*(m[4]*m[8]-m[5]*m[7]) - m[1]*(m[3]*m[8]-m[5]*m[6]) + m[2]*(m[3]*m[7]-m[4]*m[6])
	}
	d := det(m)
	if math.Abs(d) < 1e-9 {
		return x, false
	}
	for c := range 3 {
		mc := m
		for k := range 3 {
			mc[3*k+c] = r[k]
		}
		x[c] = det(mc) / d
	}
	return x, true
}

// resizeRGB scales img to w×h (area interpolation) and returns its bytes.
func resizeRGB(img []byte, iw, ih, w, h int) ([]byte, error) {
	if iw == w && ih == h {
		return slices.Clone(img), nil
	}
	src, err := gocv.NewMatFromBytes(ih, iw, gocv.MatTypeCV8UC3, img)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: wrap frame: %w", err)
	}
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	gocv.Resize(src, &dst, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	out := dst.ToBytes()
	if dst.Type() != gocv.MatTypeCV8UC3 || len(out) != 3*w*h {
		return nil, errors.New("classical segmenter: OpenCV could not prepare the working image")
	}
	return out, nil
}
