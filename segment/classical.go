//go:build !nogocv

package segment

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
	"sync"

	"gocv.io/x/gocv"

	"samtrack/mask"
	"samtrack/media"
)

// ClassicalName names the classical segmenter in output metadata.
const ClassicalName = "classical-grabcut"

// ClassicalOptions tune the classical (no-weights) segmenter.
type ClassicalOptions struct {
	// MaxSide is the long side of the working resolution (GrabCut's cost
	// grows with the pixel count); frames larger than this are shrunk.
	MaxSide int
	// Iterations is the number of GrabCut iterations.
	Iterations int
	// SeedRadius is the radius, as a share of the working long side, of
	// the probable-foreground disc around a positive click and of the
	// background disc around a negative one. A small definite-foreground
	// core (a third of it) keeps the clicked pixel inside.
	SeedRadius float64
	// Border is the width, as a share of the working long side, of the
	// frame border taken as background when there is no box.
	Border float64
	// BoxEllipse scales the ellipse inscribed in a box prompt that seeds
	// probable foreground (the rest of the box is probable background);
	// values ≥ √2 (the default 1.5) cover the whole box, as GrabCut's own
	// rectangle initialisation does. On DAVIS blackswan frame 0 a smaller
	// ellipse did not help (IoU 0.46 at 1, 0.50 at 0.8, 0.51 at 1.5).
	BoxEllipse float64
	// IslandShare removes islands smaller than this share of the mask's
	// area, and fills holes smaller than it, after upsampling.
	IslandShare float64
	// BoxMargin, with a box prompt, crops the frame to the box grown by
	// this share of its long side before GrabCut, so that the background
	// model learns the object's surroundings; 0 works on the whole frame.
	// On frame 0 of the nine DAVIS sequences (TestClassicalDAVISNine) the
	// mean IoU from the tight box is 0.625 on the whole frame, 0.645 at
	// 0.5, 0.688 at 0.25 (the default) and 0.670 at 0.15.
	BoxMargin float64
	// PinpointRounds, with a box prompt, is how many times the tight-box
	// prior is enforced at pixel level (grabCut.pinpoint); 0 turns it off.
	// With both it and BoxBias 0, a box runs cv::grabCut as a click does.
	PinpointRounds int
	// BoxBias, with a box prompt, is what each probable pixel pays (in
	// nats) to be foreground in a second GrabCut run, kept unless it
	// leaves more than BiasPinShare of the box's rows and columns empty
	// beyond what the plain run does (boxGrabCut); 0 turns it off. Both
	// were chosen on the three sequences of DAVIS davis/ alone
	// (docs/BENCHMARKS.md).
	BoxBias, BiasPinShare float64
	// StopShare ends a box's GrabCut rounds early once one changes no more
	// than this share of the working pixels (0 runs every round).
	StopShare float64
	// MotionWeight, for a box on a video frame whose next frame is known
	// (SegmentNext), weighs the motion models' log
	// likelihoods against the colour models' (1: as much; 0 turns motion
	// off). It was not tuned: 1 is the plain product of the two
	// likelihoods (docs/BENCHMARKS.md).
	MotionWeight float64
}

// DefaultClassicalOptions works at 512 px with 5 iterations, on the box
// grown by a quarter of its long side.
func DefaultClassicalOptions() ClassicalOptions {
	return ClassicalOptions{MaxSide: 512, Iterations: 5, SeedRadius: 0.06, Border: 0.01, BoxEllipse: 1.5, IslandShare: 0.05, BoxMargin: 0.25, PinpointRounds: 3, BoxBias: 1, BiasPinShare: 0.15, StopShare: 0.001, MotionWeight: 1}
}

// Classical segments with OpenCV's GrabCut seeded by the prompt; it is
// what samtrack uses when no SAM model is configured. It holds no native
// resources between calls.
type Classical struct {
	opts ClassicalOptions
}

// NewClassical checks opts and returns the segmenter.
func NewClassical(opts ClassicalOptions) (*Classical, error) {
	switch {
	case opts.MaxSide < 16:
		return nil, fmt.Errorf("classical segmenter: max side %d is too small; use at least 16 (default 512)", opts.MaxSide)
	case opts.Iterations < 1 || opts.Iterations > 50:
		return nil, fmt.Errorf("classical segmenter: %d iterations; use 1 to 50 (default 5)", opts.Iterations)
	case !(opts.SeedRadius > 0 && opts.SeedRadius < 0.5):
		return nil, fmt.Errorf("classical segmenter: seed radius %v; use a share of the long side in (0, 0.5) (default 0.06)", opts.SeedRadius)
	case !(opts.Border >= 0 && opts.Border < 0.25):
		return nil, fmt.Errorf("classical segmenter: border %v; use a share of the long side in [0, 0.25) (default 0.01)", opts.Border)
	case !(opts.BoxEllipse > 0 && opts.BoxEllipse <= 2):
		return nil, fmt.Errorf("classical segmenter: box ellipse %v; use (0, 2] (default 1.5)", opts.BoxEllipse)
	case !(opts.IslandShare >= 0 && opts.IslandShare < 1):
		return nil, fmt.Errorf("classical segmenter: island share %v; use [0, 1) (default 0.05)", opts.IslandShare)
	case opts.PinpointRounds < 0 || opts.PinpointRounds > 20:
		return nil, fmt.Errorf("classical segmenter: %d pinpoint rounds; use 0 to 20 (default 3)", opts.PinpointRounds)
	case !(opts.BoxBias >= 0 && opts.BoxBias <= 20):
		return nil, fmt.Errorf("classical segmenter: box bias %v; use [0, 20] nats (default 1)", opts.BoxBias)
	case !(opts.BiasPinShare >= 0 && opts.BiasPinShare <= 1):
		return nil, fmt.Errorf("classical segmenter: bias pin share %v; use [0, 1] (default 0.15)", opts.BiasPinShare)
	case !(opts.StopShare >= 0 && opts.StopShare < 1):
		return nil, fmt.Errorf("classical segmenter: stop share %v; use [0, 1) (default 0.001)", opts.StopShare)
	case !(opts.MotionWeight >= 0 && opts.MotionWeight <= 10):
		return nil, fmt.Errorf("classical segmenter: motion weight %v; use [0, 10] (default 1)", opts.MotionWeight)
	}
	return &Classical{opts: opts}, nil
}

// Name is ClassicalName.
func (c *Classical) Name() string { return ClassicalName }

// GrabCut mask values.
const (
	gcBGD   = 0
	gcFGD   = 1
	gcPrBGD = 2
	gcPrFGD = 3
	// gcMinSamples is the least number of pixels of each class GrabCut is
	// given: its colour models are 5-component GMMs initialised by
	// k-means, and OpenCV aborts the process (not an error) when a class
	// has fewer samples than components.
	gcMinSamples = 32
)

// Segment returns the mask of the object the prompt designates: a box
// initialises GrabCut's rectangle (outside is background), positive clicks
// add foreground discs, negative clicks background discs; without a box the
// frame border is background. With a box, components of the result that
// the tight-box prior does not need are dropped; with clicks alone, those
// no positive click lands on (tightComponents). Result.Score is the share
// of the box (or of the seeded foreground) that GrabCut kept, a rough
// confidence; LowRes is nil (there are no logits).
func (c *Classical) Segment(ctx context.Context, img media.Image, p media.Prompt) (media.Result, error) {
	return c.SegmentNext(ctx, img, nil, p)
}

// SegmentNext is Segment on a video frame whose next frame is known (nil:
// none). For a box, GrabCut then also weighs how each pixel moves against
// the box's surroundings (motionCue), in two runs, one whose motion models
// are learned from the labels and one whose background model is fixed to
// the surroundings. With positive clicks it keeps the mask in which the
// clicks lie deepest (clickDepth: a click marks the middle of the object);
// a box alone also runs on the frame alone, and the mask most like the
// other two is kept (medoid). Clicks alone, and a next frame of another
// size, take the frame alone.
func (c *Classical) SegmentNext(ctx context.Context, img media.Image, next *media.Image, p media.Prompt) (media.Result, error) {
	if err := checkImage(img); err != nil {
		return media.Result{}, fmt.Errorf("classical segmenter: %w", err)
	}
	if err := validatePrompt(p, img.W, img.H); err != nil {
		return media.Result{}, err
	}
	pos := 0
	for _, pt := range p.Points {
		pos += pt.Label
	}
	if p.Box == nil && pos == 0 {
		return media.Result{}, media.PromptErrorf("the prompt has only negative clicks, which the classical segmenter (no SAM model) cannot start from; add a positive click or a box")
	}
	if err := ctx.Err(); err != nil {
		return media.Result{}, err
	}
	if next != nil && (p.Box == nil || c.opts.MotionWeight == 0 || checkImage(*next) != nil || next.W != img.W || next.H != img.H) {
		next = nil
	}
	w, h := img.W, img.H
	win := c.window(w, h, p)
	whole := win == image.Rect(0, 0, w, h)
	wp := p
	if !whole {
		crop := cropBox{win.Min.X, win.Min.Y, win.Max.X, win.Max.Y}
		img, wp = cropImage(img, crop), shiftPrompt(p, win.Min)
		if next != nil {
			n := cropImage(*next, crop)
			next = &n
		}
	}
	// A box alone has no click to choose by: the run on the frame alone
	// joins the motion runs, and the one most like the others is kept.
	results, err := c.segmentWindow(ctx, img, next, pos == 0, wp)
	if err != nil {
		return media.Result{}, err
	}
	masks := make([]*mask.Bitmap, len(results))
	for i := range results {
		if !whole {
			results[i].Mask = pasteMask(results[i].Mask, win, w, h)
		}
		if results[i].Mask, err = tightComponents(results[i].Mask, p); err != nil {
			return media.Result{}, err
		}
		masks[i] = results[i].Mask
	}
	if pos == 0 {
		return results[medoid(masks)], nil
	}
	best, bestDepth := 0, -1.0
	for i, m := range masks {
		if d := clickDepth(m, p); d > bestDepth {
			best, bestDepth = i, d
		}
	}
	return results[best], nil
}

// window is the part of the frame GrabCut works on: with a box, the box
// grown by BoxMargin of its long side (and covering every click), so that
// the background colour model describes the object's surroundings rather
// than the whole frame; without a box, the whole frame.
func (c *Classical) window(w, h int, p media.Prompt) image.Rectangle {
	frame := image.Rect(0, 0, w, h)
	if p.Box == nil || c.opts.BoxMargin <= 0 {
		return frame
	}
	b := p.Box
	r := image.Rect(int(math.Floor(b.X0)), int(math.Floor(b.Y0)), int(math.Ceil(b.X1)), int(math.Ceil(b.Y1)))
	for _, pt := range p.Points {
		r = r.Union(image.Rect(int(pt.X), int(pt.Y), int(pt.X)+1, int(pt.Y)+1))
	}
	m := int(math.Ceil(c.opts.BoxMargin * float64(max(r.Dx(), r.Dy()))))
	return r.Inset(-max(m, 8)).Intersect(frame)
}

// shiftPrompt moves p's box and clicks into a window starting at o.
func shiftPrompt(p media.Prompt, o image.Point) media.Prompt {
	dx, dy := float64(o.X), float64(o.Y)
	q := media.Prompt{Points: make([]media.Point, len(p.Points))}
	for i, pt := range p.Points {
		q.Points[i] = media.Point{X: pt.X - dx, Y: pt.Y - dy, Label: pt.Label}
	}
	if b := p.Box; b != nil {
		q.Box = &media.Box{X0: b.X0 - dx, Y0: b.Y0 - dy, X1: b.X1 - dx, Y1: b.Y1 - dy}
	}
	return q
}

// pasteMask places m, the mask of window r, into an empty w×h mask.
func pasteMask(m *mask.Bitmap, r image.Rectangle, w, h int) *mask.Bitmap {
	out := mask.NewBitmap(w, h)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(out.Pix[y*w+r.Min.X:y*w+r.Max.X], m.Pix[(y-r.Min.Y)*m.W:(y-r.Min.Y+1)*m.W])
	}
	return out
}

// segmentWindow runs the prompt on img (already cropped to its window),
// with next (cropped alike, or nil) for the motion runs: one result a run
// (grabCut's).
func (c *Classical) segmentWindow(ctx context.Context, img media.Image, next *media.Image, withAlone bool, p media.Prompt) ([]media.Result, error) {
	long := max(img.W, img.H)
	s := math.Min(1, float64(c.opts.MaxSide)/float64(long))
	ww, wh := max(1, int(math.Round(float64(img.W)*s))), max(1, int(math.Round(float64(img.H)*s)))
	sx, sy := float64(ww)/float64(img.W), float64(wh)/float64(img.H)

	seeds := c.seed(p, ww, wh, sx, sy)
	fgSeeds := seeds.foreground()
	// Each class needs enough samples for GrabCut's GMMs; when the box
	// covers the frame, treat its outer ring as probable background.
	if len(seeds.pix)-fgSeeds < gcMinSamples {
		fgSeeds -= seeds.ringToBackground()
	}

	var fgs [][]byte
	if fgSeeds >= gcMinSamples && len(seeds.pix)-fgSeeds >= gcMinSamples {
		var err error
		if fgs, err = c.grabCut(img, next, withAlone, ww, wh, seeds.pix, seeds.box); err != nil {
			return nil, err
		}
	} else {
		// Too small a frame for GrabCut: the seeds are the answer.
		fg := make([]byte, ww*wh)
		for i, v := range seeds.pix {
			if v == gcFGD || v == gcPrFGD {
				fg[i] = 255
			}
		}
		fgs = [][]byte{fg}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []media.Result
	for _, fg := range fgs {
		b, err := upsampleMask(fg, ww, wh, img.W, img.H)
		if err != nil {
			return nil, err
		}
		if b, err = cleanIslands(b, c.opts.IslandShare); err != nil {
			return nil, err
		}
		// Score: the share of the seeded foreground GrabCut kept.
		kept := 0
		for i, v := range seeds.pix {
			if (v == gcFGD || v == gcPrFGD) && fg[i] != 0 {
				kept++
			}
		}
		score := 0.0
		if fgSeeds > 0 {
			score = float64(kept) / float64(fgSeeds)
		}
		out = append(out, media.Result{Mask: b, Score: score})
	}
	return out, nil
}

// seedMap is GrabCut's initial mask at the working resolution: one of
// gcBGD, gcFGD, gcPrBGD, gcPrFGD a pixel.
type seedMap struct {
	pix  []byte
	w, h int
	box  *image.Rectangle // the box prompt at the working size, if any
}

// fill sets the rectangle [x0,x1)×[y0,y1), clipped to the map, to v.
func (m seedMap) fill(x0, y0, x1, y1 int, v byte) {
	x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, m.w), min(y1, m.h)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m.pix[y*m.w+x] = v
		}
	}
}

// disc sets the pixels within r of (cx, cy) to v.
func (m seedMap) disc(cx, cy, r float64, v byte) {
	for y := max(0, int(cy-r)); y <= min(m.h-1, int(cy+r)); y++ {
		for x := max(0, int(cx-r)); x <= min(m.w-1, int(cx+r)); x++ {
			if dx, dy := float64(x)-cx, float64(y)-cy; dx*dx+dy*dy <= r*r {
				m.pix[y*m.w+x] = v
			}
		}
	}
}

// foreground counts the sure and probable foreground seeds.
func (m seedMap) foreground() int {
	n := 0
	for _, v := range m.pix {
		if v == gcFGD || v == gcPrFGD {
			n++
		}
	}
	return n
}

// ringToBackground turns the probable foreground of the map's outer ring
// into probable background and returns how many pixels it turned.
func (m seedMap) ringToBackground() int {
	ring := max(1, max(m.w, m.h)/64)
	n := 0
	for y := 0; y < m.h; y++ {
		for x := 0; x < m.w; x++ {
			if (x < ring || y < ring || x >= m.w-ring || y >= m.h-ring) && m.pix[y*m.w+x] == gcPrFGD {
				m.pix[y*m.w+x] = gcPrBGD
				n++
			}
		}
	}
	return n
}

// seed builds the prompt's seeds at the working size ww×wh (sx, sy scale
// frame pixels to it): a box makes its outside background and an ellipse
// in it probable foreground; without one, a border is background. Positive
// clicks are foreground (with a probable-foreground disc around them when
// there is no box), negative ones background.
func (c *Classical) seed(p media.Prompt, ww, wh int, sx, sy float64) seedMap {
	m := seedMap{pix: make([]byte, ww*wh), w: ww, h: wh}
	wlong := max(ww, wh)
	if b := p.Box; b != nil {
		rx0, ry0 := int(math.Floor(b.X0*sx)), int(math.Floor(b.Y0*sy))
		rx1, ry1 := max(rx0+1, int(math.Ceil(b.X1*sx))), max(ry0+1, int(math.Ceil(b.Y1*sy)))
		m.fill(0, 0, ww, wh, gcBGD)
		m.fill(rx0, ry0, rx1, ry1, gcPrBGD)
		r := image.Rect(rx0, ry0, rx1, ry1)
		m.box = &r
		// Probable foreground is an ellipse scaled from the one inscribed
		// in the box (by default it covers the whole box); box pixels
		// outside it start as probable background.
		cx, cy := float64(rx0+rx1)/2, float64(ry0+ry1)/2
		ax, ay := math.Max(1, float64(rx1-rx0)/2), math.Max(1, float64(ry1-ry0)/2)
		for y := max(ry0, 0); y < min(ry1, wh); y++ {
			for x := max(rx0, 0); x < min(rx1, ww); x++ {
				dx, dy := (float64(x)+0.5-cx)/ax, (float64(y)+0.5-cy)/ay
				if dx*dx+dy*dy <= c.opts.BoxEllipse*c.opts.BoxEllipse {
					m.pix[y*ww+x] = gcPrFGD
				}
			}
		}
	} else {
		m.fill(0, 0, ww, wh, gcPrBGD)
		bw := int(math.Ceil(c.opts.Border * float64(wlong)))
		m.fill(0, 0, ww, bw, gcBGD)
		m.fill(0, wh-bw, ww, wh, gcBGD)
		m.fill(0, 0, bw, wh, gcBGD)
		m.fill(ww-bw, 0, ww, wh, gcBGD)
	}
	r := math.Max(2, c.opts.SeedRadius*float64(wlong))
	for _, pt := range p.Points {
		if pt.Label == 1 && p.Box == nil {
			m.disc(pt.X*sx, pt.Y*sy, r, gcPrFGD)
		}
	}
	for _, pt := range p.Points {
		switch pt.Label {
		case 1:
			m.disc(pt.X*sx, pt.Y*sy, math.Max(1, r/3), gcFGD)
		case 0:
			m.disc(pt.X*sx, pt.Y*sy, math.Max(1, r/2), gcBGD)
		}
	}
	return m
}

// grabCut runs GrabCut on the frame shrunk to ww×wh and returns a 0/255
// mask a run: the run on the frame alone (boxGrabCut for a box,
// cv::grabCut for clicks alone), and with next (a box prompt on a video)
// the two motion runs, after it (withAlone) or instead of it. The runs
// are independent and run side by side; each gives the mask it would give
// alone.
func (c *Classical) grabCut(img media.Image, next *media.Image, withAlone bool, ww, wh int, seeds []byte, box *image.Rectangle) ([][]byte, error) {
	rgb, err := resizeRGB(img.RGB, img.W, img.H, ww, wh)
	if err != nil {
		return nil, err
	}
	motion := box != nil && next != nil
	alone := box == nil || next == nil || withAlone
	boxAlone := box != nil && (c.opts.PinpointRounds > 0 || c.opts.BoxBias > 0)
	// Every box run starts from the same seeds, colour models and
	// smoothness.
	var start *grabCut
	if motion || (alone && boxAlone) {
		start = newGrabCut(rgb, ww, wh, append([]byte(nil), seeds...), 50)
	}
	var jobs []func() ([]byte, error)
	if alone {
		jobs = append(jobs, func() ([]byte, error) {
			if boxAlone {
				return c.boxGrabCut(start, *box, nil)
			}
			return c.openCVGrabCut(rgb, ww, wh, seeds)
		})
	}
	if motion {
		nrgb, err := resizeRGB(next.RGB, next.W, next.H, ww, wh)
		if err != nil {
			return nil, err
		}
		res, err := residualMotion(rgb, nrgb, ww, wh, seeds)
		if err != nil {
			return nil, err
		}
		bins := motionBinsOf(res)
		for _, mode := range []motionMode{motionLearned, motionFixedBG} {
			jobs = append(jobs, func() ([]byte, error) {
				return c.boxGrabCut(start, *box, &motionCue{bins: bins, weight: c.opts.MotionWeight, mode: mode})
			})
		}
	}
	runs, err := sideBySide(jobs)
	if err != nil {
		return nil, err
	}
	for _, out := range runs {
		for i, v := range out {
			out[i] = 0
			if v == gcFGD || v == gcPrFGD {
				out[i] = 255
			}
		}
	}
	return runs, nil
}

// sideBySide runs every job in a goroutine of its own and returns their
// results in the jobs' order, or the first job's error (in that order).
func sideBySide[T any](jobs []func() (T, error)) ([]T, error) {
	out := make([]T, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for k, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[k], errs[k] = job()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// openCVGrabCut runs cv::grabCut on the working image rgb (ww×wh) from
// seeds and returns its labels.
func (c *Classical) openCVGrabCut(rgb []byte, ww, wh int, seeds []byte) ([]byte, error) {
	work, err := gocv.NewMatFromBytes(wh, ww, gocv.MatTypeCV8UC3, rgb)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: wrap frame: %w", err)
	}
	defer work.Close()
	defer runtime.KeepAlive(rgb)
	seedMat, err := gocv.NewMatFromBytes(wh, ww, gocv.MatTypeCV8UC1, seeds)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: wrap seeds: %w", err)
	}
	defer seedMat.Close()
	m := seedMat.Clone() // GrabCut writes the mask; keep it in C memory
	defer m.Close()
	runtime.KeepAlive(seeds)
	bgd, fgd := gocv.NewMat(), gocv.NewMat()
	defer bgd.Close()
	defer fgd.Close()
	if m.Rows() != wh || m.Cols() != ww {
		return nil, errors.New("classical segmenter: OpenCV could not prepare the seed mask")
	}
	// GrabCut seeds its colour models with k-means, which draws from
	// OpenCV's per-thread random generator: the mask would depend on what
	// ran earlier on this OS thread. Pinning the goroutine and reseeding
	// (0 is a fresh thread's state) makes every call give the same mask,
	// next to any concurrent job.
	runtime.LockOSThread()
	gocv.SetRNGSeed(0)
	gocv.GrabCut(work, &m, image.Rect(0, 0, ww, wh), &bgd, &fgd, c.opts.Iterations, gocv.GCInitWithMask)
	runtime.UnlockOSThread()
	out := m.ToBytes()
	if len(out) != ww*wh {
		return nil, fmt.Errorf("classical segmenter: GrabCut returned %d mask bytes for %dx%d", len(out), ww, wh)
	}
	return out, nil
}

// boxGrabCut segments a box prompt (box at the working size) by GrabCut
// from start, which it leaves be (other runs may fork it at the same
// time), with the motion cue if not nil, and with the tight-box prior
// enforced at pixel level (pinpoint). It runs twice, side by side: as
// cv::grabCut does, and with every probable pixel paying BoxBias nats more
// to be foreground, which drops background of the object's colours that
// the box holds (a swan's ledge, the sand between a camel's legs). A bias
// that eats into the object shows as rows and columns of the box left
// empty: when the biased run leaves more than BiasPinShare of the box's
// rows and columns empty beyond what the plain run does, the plain run's
// labels are returned (with PinpointRounds 0 nothing is counted and the
// biased run is kept).
func (c *Classical) boxGrabCut(start *grabCut, box image.Rectangle, motion *motionCue) ([]byte, error) {
	biases := []float64{0}
	if c.opts.BoxBias != 0 {
		biases = append(biases, c.opts.BoxBias)
	}
	type run struct {
		g    *grabCut
		pins int
	}
	var jobs []func() (run, error)
	for _, bias := range biases {
		jobs = append(jobs, func() (run, error) {
			g := start.fork()
			g.motion = motion.fork()
			g.bias, g.stopShare = bias, c.opts.StopShare
			if err := g.iterate(c.opts.Iterations); err != nil {
				return run{}, fmt.Errorf("classical segmenter: %w", err)
			}
			pins, err := g.pinpoint(box, c.opts.PinpointRounds, 2)
			if err != nil {
				return run{}, fmt.Errorf("classical segmenter: %w", err)
			}
			return run{g, pins}, nil
		})
	}
	runs, err := sideBySide(jobs)
	if err != nil {
		return nil, err
	}
	if len(runs) == 1 {
		return runs[0].g.labels, nil
	}
	plain, biased := runs[0], runs[1]
	if float64(biased.pins-plain.pins) > c.opts.BiasPinShare*float64(box.Dx()+box.Dy()) {
		return plain.g.labels, nil
	}
	return biased.g.labels, nil
}

// upsampleMask scales a 0/255 mask from ww×wh to w×h bilinearly and
// thresholds it at half, which gives smoother edges than nearest-neighbour.
func upsampleMask(fg []byte, ww, wh, w, h int) (*mask.Bitmap, error) {
	b := mask.NewBitmap(w, h)
	if ww == w && wh == h {
		for i, v := range fg {
			if v != 0 {
				b.Pix[i] = 1
			}
		}
		return b, nil
	}
	src, err := gocv.NewMatFromBytes(wh, ww, gocv.MatTypeCV8UC1, fg)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: wrap mask: %w", err)
	}
	defer src.Close()
	up := gocv.NewMat()
	defer up.Close()
	gocv.Resize(src, &up, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
	runtime.KeepAlive(fg)
	px := up.ToBytes()
	if len(px) != w*h {
		return nil, fmt.Errorf("classical segmenter: upsampled mask has %d bytes for %dx%d", len(px), w, h)
	}
	for i, v := range px {
		if v >= 128 {
			b.Pix[i] = 1
		}
	}
	return b, nil
}

// cleanIslands fills holes and removes islands smaller than share of the
// mask's area (8-connectivity; the largest island always stays).
func cleanIslands(b *mask.Bitmap, share float64) (*mask.Bitmap, error) {
	area := b.Area()
	if share <= 0 || area == 0 {
		return b, nil
	}
	thr := math.Max(4, share*float64(area))
	b, _, err := mask.RemoveSmallRegions(b, thr, mask.Holes)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: %w", err)
	}
	b, _, err = mask.RemoveSmallRegions(b, thr, mask.Islands)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: %w", err)
	}
	return b, nil
}
