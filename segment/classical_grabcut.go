//go:build !nogocv

package segment

import (
	"image"
	"math"
)

// grabCut is one GrabCut problem at the working resolution (Rother et al.,
// SIGGRAPH 2004): the colours, the current label of every pixel (gcBGD,
// gcFGD, gcPrBGD, gcPrFGD) and the two colour models. It alternates
// fitting the models to the labels and a minimum cut (cutGrid) that
// relabels the probable pixels, as cv::grabCut does, but keeps the models
// between rounds so that constraints can be added (pinpoint), and can bias
// the probable pixels towards the background.
type grabCut struct {
	w, h   int
	links  nLinks
	cols   [][3]float64
	labels []byte
	fg, bg gmm
	// bias is what a probable pixel pays, in nats, to be foreground.
	bias float64
	// changed is how many pixels the last relabel changed.
	changed int
	// stopShare ends iterate early once a round changes no more than
	// this share of the pixels.
	stopShare float64
	// motion, when the prompt is on a video, adds the motion models'
	// terms to the colour models' (nil: colour alone).
	motion *motionCue
	// scratch for relabel
	fromSrc, toSink []float64
	fixed, cut      []byte
}

// newGrabCut starts a problem on rgb (w×h) from seeds, which it owns from
// then on, with smoothness weight gamma (cv::grabCut uses 50), and
// initialises the colour models by k-means.
func newGrabCut(rgb []byte, w, h int, seeds []byte, gamma float64) *grabCut {
	n := w * h
	g := &grabCut{w: w, h: h, links: contrastLinks(rgb, w, h, gamma), cols: make([][3]float64, n), labels: seeds,
		fromSrc: make([]float64, n), toSink: make([]float64, n), fixed: make([]byte, n), cut: make([]byte, n)}
	for i := range g.cols {
		g.cols[i] = [3]float64{float64(rgb[3*i]), float64(rgb[3*i+1]), float64(rgb[3*i+2])}
	}
	for _, fgClass := range []bool{true, false} {
		sub := g.classColours(fgClass)
		g.model(fgClass).fit(sub, kmeansComponents(sub))
	}
	return g
}

// fork is a copy of g, models and labels included, that shares its
// colours and smoothness weights: what runs on either leaves the other be.
func (g *grabCut) fork() *grabCut {
	n := g.w * g.h
	f := *g
	f.labels = append([]byte(nil), g.labels...)
	f.fromSrc, f.toSink, f.fixed, f.cut = make([]float64, n), make([]float64, n), make([]byte, n), make([]byte, n)
	f.motion = g.motion.fork()
	return &f
}

func (g *grabCut) model(fgClass bool) *gmm {
	if fgClass {
		return &g.fg
	}
	return &g.bg
}

func isFG(v byte) bool { return v == gcFGD || v == gcPrFGD }

// classColours lists the colours of the pixels labelled foreground (or
// background).
func (g *grabCut) classColours(fgClass bool) [][3]float64 {
	var sub [][3]float64
	for i, v := range g.labels {
		if isFG(v) == fgClass {
			sub = append(sub, g.cols[i])
		}
	}
	return sub
}

// iterate runs n rounds of model fitting and cutting.
func (g *grabCut) iterate(n int) error {
	for range n {
		g.learn()
		if err := g.relabel(); err != nil {
			return err
		}
		if float64(g.changed) <= g.stopShare*float64(len(g.labels)) {
			break
		}
	}
	return nil
}

// learn assigns every pixel to the most likely component of its class's
// model and refits both models to those assignments.
func (g *grabCut) learn() {
	var fg, bg gmmStats
	for i, v := range g.labels {
		c := g.cols[i]
		if isFG(v) {
			fg.add(g.fg.component(c), c)
		} else {
			bg.add(g.bg.component(c), c)
		}
	}
	g.fg.fitStats(&fg)
	g.bg.fitStats(&bg)
	if g.motion != nil {
		g.motion.learn(g.labels)
	}
}

// logRatio is log p(c | foreground) − log p(c | background) at pixel i,
// with the motion models' ratio added.
func (g *grabCut) logRatio(i int) float64 {
	mf, mb := g.motion.terms(i)
	return safeLog(g.fg.prob(g.cols[i])) - safeLog(g.bg.prob(g.cols[i])) + mf - mb
}

func safeLog(p float64) float64 { return math.Log(math.Max(p, 1e-200)) }

// relabel sets the terminal costs from the models (definite labels get
// GrabCut's 9·gamma) and relabels the probable pixels by a minimum cut.
func (g *grabCut) relabel() error {
	// A definite pixel would pay 9·gamma to change (cv::grabCut's weight),
	// more than all its links (at most (4+2√2)·gamma) can save: no cut
	// relabels it, so it stays out of the graph.
	for i, v := range g.labels {
		switch v {
		case gcFGD:
			g.fixed[i] = cutForeground
		case gcBGD:
			g.fixed[i] = cutBackground
		default:
			g.fixed[i] = cutFree
			mf, mb := g.motion.terms(i)
			g.fromSrc[i], g.toSink[i] = -safeLog(g.bg.prob(g.cols[i]))-mb, g.bias-safeLog(g.fg.prob(g.cols[i]))-mf
		}
	}
	if err := cutGrid(g.links, g.fixed, g.fromSrc, g.toSink, g.cut); err != nil {
		return err
	}
	changed := 0
	for i, v := range g.labels {
		if v == gcPrFGD || v == gcPrBGD {
			g.labels[i] = gcPrBGD
			if g.cut[i] != 0 {
				g.labels[i] = gcPrFGD
			}
			if g.labels[i] != v {
				changed++
			}
		}
	}
	g.changed = changed
	return nil
}

// pinpoint enforces the tight-box prior at pixel level (after Lempitsky et
// al., ICCV 2009): every row and column of box r must meet the object, so
// for each that has no foreground, its pixel most like the foreground model
// becomes definite foreground, and GrabCut runs iters more rounds; this
// repeats up to rounds times. It returns how many rows and columns the
// first round found empty.
func (g *grabCut) pinpoint(r image.Rectangle, rounds, iters int) (int, error) {
	r = r.Intersect(image.Rect(0, 0, g.w, g.h))
	first := 0
	for round := range rounds {
		added := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			added += g.pin(r.Min.X, y, 1, 0, r.Dx())
		}
		for x := r.Min.X; x < r.Max.X; x++ {
			added += g.pin(x, r.Min.Y, 0, 1, r.Dy())
		}
		if round == 0 {
			first = added
		}
		if added == 0 {
			break
		}
		if err := g.iterate(iters); err != nil {
			return first, err
		}
	}
	return first, nil
}

// pin walks n pixels from (x, y) by (dx, dy); when none is foreground, it
// makes the one with the highest log ratio definite foreground and
// returns 1.
func (g *grabCut) pin(x, y, dx, dy, n int) int {
	best, bv := -1, math.Inf(-1)
	for k := 0; k < n; k++ {
		i := (y+k*dy)*g.w + x + k*dx
		if isFG(g.labels[i]) {
			return 0
		}
		if g.labels[i] == gcBGD {
			continue
		}
		if v := g.logRatio(i); v > bv {
			best, bv = i, v
		}
	}
	if best < 0 {
		return 0
	}
	g.labels[best] = gcFGD
	return 1
}
