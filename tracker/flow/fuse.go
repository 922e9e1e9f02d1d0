package flow

import (
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// fuse predicts every object in its region of the current frame (rgb) and
// writes the labels into out.
func (p *Propagator) fuse(rgb []byte, out []uint16) error {
	frame := image.Rect(0, 0, p.w, p.h)
	sigmaPad := int(math.Ceil(3*p.tune.priorSigma)) + 2
	for _, o := range p.objects {
		o.roi = image.Rectangle{}
		if o.box.Empty() {
			continue // lost: it comes back only with a new reference
		}
		mb, err := p.short.maxBack(o.box.Inset(-64).Intersect(frame))
		if err != nil {
			return err
		}
		o.roi = o.box.Inset(-(int(math.Ceil(float64(mb))) + sigmaPad)).Intersect(frame)
		fillRect(p.best, p.w, o.roi, 0.5)
	}
	for _, o := range p.objects {
		if o.roi.Empty() {
			continue
		}
		if err := p.fuseObject(o, rgb, out); err != nil {
			return err
		}
	}
	for _, o := range p.objects {
		if o.roi.Empty() {
			o.box = image.Rectangle{}
			continue
		}
		box := labelBox(out, p.w, o.roi, o.id)
		o.box = p.cleanup(out, p.w, o.id, box, p.tune.islandFrac, p.tune.holeFrac)
	}
	return nil
}

// fuseObject computes the posterior of o inside o.roi and claims the pixels
// where it is the most likely object.
func (p *Propagator) fuseObject(o *object, rgb []byte, out []uint16) error {
	roi := o.roi
	t := &p.tune
	// Short-term prior: the previous mask warped along the backward flow,
	// discounted where the flows disagree.
	wp, err := p.warpPrior(&p.short, p.prevLabels, o.id, o.box, &p.warped, roi)
	if err != nil {
		return err
	}
	k := t.occPrior
	for y := roi.Min.Y; y < roi.Max.Y; y++ {
		a, b := y*p.w+roi.Min.X, y*p.w+roi.Max.X
		cons, row := p.short.cons[a:b], wp[a:b]
		for j, c := range cons {
			row[j] *= c + (1-c)*k
		}
	}
	// Long-term prior: the reference mask warped straight to this frame,
	// trusted where its flows agree.
	if t.ltWeight > 0 {
		rw, err := p.warpPrior(&p.long, p.refLabels, o.id, o.refBox, &p.refW, roi)
		if err != nil {
			return err
		}
		lw := t.ltWeight
		for y := roi.Min.Y; y < roi.Max.Y; y++ {
			a, b := y*p.w+roi.Min.X, y*p.w+roi.Max.X
			cons, row, ref := p.long.cons[a:b], wp[a:b], rw[a:b]
			for j, c := range cons {
				f := lw * c
				row[j] = (1-f)*row[j] + f*ref[j]
			}
		}
	}
	// Blur the prior so that the colour model decides in a band around the
	// boundary, then fuse in the log-odds domain.
	src, dst := p.warped.Region(roi), p.blurred.Region(roi)
	gocv.GaussianBlur(src, &dst, image.Pt(0, 0), t.priorSigma, t.priorSigma, gocv.BorderReplicate|gocv.BorderIsolated)
	src.Close()
	dst.Close()
	prior, err := p.blurred.DataPtrFloat32()
	if err != nil {
		return err
	}
	llr := &o.colour.llr
	cw := t.colourWeight
	lo, hi := t.priorLo, t.priorHi
	for y := roi.Min.Y; y < roi.Max.Y; y++ {
		for i := y*p.w + roi.Min.X; i < y*p.w+roi.Max.X; i++ {
			pr := prior[i]
			if pr <= lo {
				continue
			}
			post := float32(1)
			if pr < hi {
				l := float32(math.Log(float64(pr/(1-pr)))) + cw*llr[colourBin(rgb, i)]
				post = 1 / (1 + float32(math.Exp(float64(-l))))
			}
			if post > p.best[i] {
				p.best[i] = post
				out[i] = o.id
			}
		}
	}
	return nil
}

// warpPrior is one prior of fuseObject: object id's mask in labels
// (within box), warped along link l's backward flow into dst, whose pixels
// it returns; l's flow-consistency is prepared for roi first.
func (p *Propagator) warpPrior(l *link, labels []uint16, id uint16, box image.Rectangle, dst *gocv.Mat, roi image.Rectangle) ([]float32, error) {
	if err := l.prepare(roi, p.tune.fbAlpha, p.tune.fbBeta); err != nil {
		return nil, err
	}
	if err := p.warp(labels, id, box, &l.mapXY, dst, roi); err != nil {
		return nil, err
	}
	return dst.DataPtrFloat32()
}

// warp remaps the indicator of id in labels (non-zero only inside box) along
// mapXY into dst, inside roi.
func (p *Propagator) warp(labels []uint16, id uint16, box image.Rectangle, mapXY, dst *gocv.Mat, roi image.Rectangle) error {
	ind, err := p.ind.DataPtrFloat32()
	if err != nil {
		return err
	}
	for y := box.Min.Y; y < box.Max.Y; y++ {
		a, b := y*p.w+box.Min.X, y*p.w+box.Max.X
		row, in := labels[a:b], ind[a:b]
		for j, v := range row {
			if v == id {
				in[j] = 1
			}
		}
	}
	m, d := mapXY.Region(roi), dst.Region(roi)
	gocv.Remap(p.ind, &d, &m, &p.noMap, gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
	m.Close()
	d.Close()
	fillRect(ind, p.w, box, 0) // keep the indicator all zero between uses
	return nil
}

func fillRect(buf []float32, w int, r image.Rectangle, v float32) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := buf[y*w+r.Min.X : y*w+r.Max.X]
		for i := range row {
			row[i] = v
		}
	}
}

// labelBox is the bounding box of id in labels inside r (empty when absent).
func labelBox(labels []uint16, w int, r image.Rectangle, id uint16) image.Rectangle {
	x0, y0, x1, y1 := r.Max.X, r.Max.Y, -1, -1
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if labels[y*w+x] == id {
				x0, x1 = min(x0, x), max(x1, x)
				y0, y1 = min(y0, y), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return image.Rectangle{}
	}
	return image.Rect(x0, y0, x1+1, y1+1)
}
