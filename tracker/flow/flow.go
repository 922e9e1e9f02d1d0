// Package flow is the classical mask propagator of samtrack: it needs no
// model weights. It carries every object's mask from frame to frame along
// backward DIS optical flow (OpenCV, through a small cgo wrapper over
// cv::DISOpticalFlow), both from the previous frame and straight from the
// reference frame, discounts pixels where forward and backward flow
// disagree (occlusions), fuses the warped soft prior with per-object colour
// histograms learned on the reference frame, and removes islands and holes.
// It owns its native resources (the DIS instances and the Mats) and frees
// them in Close.
package flow

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"

	"samtrack/mask"
	"samtrack/media"
)

// Options configures a Propagator. The zero value is a good default.
type Options struct {
	// Preset is the DIS optical-flow preset between consecutive frames;
	// the zero value is PresetUltrafast.
	Preset Preset
	// LongPreset is the DIS preset between the reference frame and the
	// current one; the zero value is PresetUltrafast.
	LongPreset Preset
	// FlowScale is the scale, in (0, 1], at which the flow is computed; 0
	// means 0.5 (half resolution).
	FlowScale float64
	// LongFlowScale is the scale of the flow between the reference frame and
	// the current one; 0 means FlowScale.
	LongFlowScale float64
	// MaxObjects bounds the number of objects a reference may hold; 0 means
	// 1024.
	MaxObjects int
}

func (o Options) withDefaults() (Options, error) {
	if o.FlowScale == 0 {
		o.FlowScale = 0.5
	}
	if o.LongFlowScale == 0 {
		o.LongFlowScale = o.FlowScale
	}
	if !(o.FlowScale > 0 && o.FlowScale <= 1) {
		return o, fmt.Errorf("flow options: FlowScale %v is outside (0, 1]: use 0.5 for half resolution", o.FlowScale)
	}
	if !(o.LongFlowScale > 0 && o.LongFlowScale <= 1) {
		return o, fmt.Errorf("flow options: LongFlowScale %v is outside (0, 1]: use 0.5 for half resolution", o.LongFlowScale)
	}
	if o.MaxObjects == 0 {
		o.MaxObjects = 1024
	}
	if o.MaxObjects < 0 {
		return o, fmt.Errorf("flow options: MaxObjects %d is negative: use 0 for the default", o.MaxObjects)
	}
	for _, p := range []Preset{o.Preset, o.LongPreset} {
		if p < PresetUltrafast || p > PresetMedium {
			return o, fmt.Errorf("flow options: unknown preset %d: use PresetUltrafast, PresetFast or PresetMedium", int(p))
		}
	}
	return o, nil
}

// Propagator implements tracker.Propagator with optical flow and colour
// models. It is not safe for concurrent use.
//
// Each Propagate warps every object's previous mask along the backward flow
// (current to previous frame) and its reference mask along the backward
// flow to the reference frame, weighting each by the forward-backward
// consistency of its flows; blurs that prior so that a band around the
// boundary stays uncertain; adds the colour log-likelihood ratio there; and
// gives each pixel to the most likely object. Work is confined to a region
// around each object's last box, grown by the largest displacement nearby.
//
// Known limits: an object lost entirely stays lost until the next
// reference; background uncovered behind a moving object that has the
// object's colours and little texture can be dragged along (a trail) when
// the reference frame also had it covered, since neither flow consistency,
// the reference warp nor colour can then tell it apart.
type Propagator struct {
	opts    Options
	tune    tuning
	dis     *dis // short-term flow
	disLong *dis // long-term flow

	// Frame geometry, fixed by the first reference until Reset.
	w, h   int
	sw, sh int // short-term flow resolution
	lw, lh int // long-term flow resolution

	// Native buffers, allocated once per geometry.
	rgb       gocv.Mat // CV_8UC3, the current frame
	grey      gocv.Mat // CV_8UC1 full resolution
	prevSmall gocv.Mat // CV_8UC1 at flow resolution
	curSmall  gocv.Mat
	curLong   gocv.Mat // CV_8UC1 at long-term flow resolution
	refLong   gocv.Mat // the last reference frame
	ind       gocv.Mat // CV_32FC1 indicator of one object; all zero between uses
	warped    gocv.Mat // CV_32FC1 prior of the object being processed
	refW      gocv.Mat // CV_32FC1 reference mask warped to the current frame
	blurred   gocv.Mat // CV_32FC1 blurred prior
	noMap     gocv.Mat // empty second map for Remap
	short     link     // current <-> previous frame
	long      link     // current <-> reference frame
	allocated bool

	objects []*object
	ready   bool // a reference has been given since New or Reset
	closed  bool

	// Go buffers reused across frames.
	prevLabels []uint16 // labels of the previous frame
	refLabels  []uint16 // labels of the reference frame
	best       []float32
	comp       []int32
	queue      []int32
}

// object is the state kept for one tracked id.
type object struct {
	id     uint16
	colour colourModel
	box    image.Rectangle // bounding box in the previous frame (empty: lost)
	refBox image.Rectangle // bounding box in the reference frame
	roi    image.Rectangle // region processed in the current frame
}

// New returns a Propagator; call Close when done with it.
func New(opts Options) (*Propagator, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := newDIS(o.Preset)
	if err != nil {
		return nil, err
	}
	dl, err := newDIS(o.LongPreset)
	if err != nil {
		d.close()
		return nil, err
	}
	return &Propagator{opts: o, dis: d, disLong: dl, tune: defaultTuning()}, nil
}

// Close frees every native resource; the Propagator cannot be used after.
// Close is idempotent.
func (p *Propagator) Close() error {
	p.Reset()
	p.freeFrameBuffers()
	p.dis.close()
	p.disLong.close()
	p.closed = true
	return nil
}

// ErrClosed is returned by a Propagator used after Close.
var ErrClosed = errors.New("flow propagator is closed: create a new one with flow.New")

// Reset drops all memory: objects, colour models, the reference and the
// previous frame. The next call must be AddReference, which may then use a
// new frame size.
func (p *Propagator) Reset() {
	p.objects = nil
	p.ready = false
	// A reset propagator must track exactly as a new one: the frame
	// buffers (flow fields among them) are freed, not reused with an
	// earlier video's contents.
	p.freeFrameBuffers()
}

func (p *Propagator) freeFrameBuffers() {
	if !p.allocated {
		return
	}
	for _, m := range []*gocv.Mat{&p.rgb, &p.grey, &p.prevSmall, &p.curSmall, &p.curLong, &p.refLong, &p.ind, &p.warped, &p.refW, &p.blurred, &p.noMap} {
		m.Close()
	}
	p.short.close()
	p.long.close()
	p.allocated = false
	p.w, p.h = 0, 0
}

func (p *Propagator) ensureFrameBuffers(w, h int) {
	if p.allocated && p.w == w && p.h == h {
		return
	}
	p.freeFrameBuffers()
	p.w, p.h = w, h
	p.sw, p.sh = scaled(w, h, p.opts.FlowScale)
	p.lw, p.lh = scaled(w, h, p.opts.LongFlowScale)
	p.rgb = gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	p.grey = gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
	p.prevSmall = gocv.NewMatWithSize(p.sh, p.sw, gocv.MatTypeCV8UC1)
	p.curSmall = gocv.NewMatWithSize(p.sh, p.sw, gocv.MatTypeCV8UC1)
	p.curLong = gocv.NewMatWithSize(p.lh, p.lw, gocv.MatTypeCV8UC1)
	p.refLong = gocv.NewMatWithSize(p.lh, p.lw, gocv.MatTypeCV8UC1)
	p.ind = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), h, w, gocv.MatTypeCV32FC1)
	p.warped = gocv.NewMatWithSize(h, w, gocv.MatTypeCV32FC1)
	p.refW = gocv.NewMatWithSize(h, w, gocv.MatTypeCV32FC1)
	p.blurred = gocv.NewMatWithSize(h, w, gocv.MatTypeCV32FC1)
	p.noMap = gocv.NewMat()
	p.short = newLink(w, h, p.sw, p.sh)
	p.long = newLink(w, h, p.lw, p.lh)
	p.allocated = true
	n := w * h
	p.prevLabels = make([]uint16, n)
	p.refLabels = make([]uint16, n)
	p.best = make([]float32, n)
	p.comp = make([]int32, n)
	p.queue = make([]int32, 0, 1024)
}

func checkFrame(f media.Frame) error {
	if f.W <= 0 || f.H <= 0 {
		return fmt.Errorf("frame %d: size %dx%d is empty: pass a decoded frame", f.Index, f.W, f.H)
	}
	if len(f.RGB) != f.W*f.H*3 {
		return fmt.Errorf("frame %d: RGB holds %d bytes, want %d for %dx%d packed RGB24", f.Index, len(f.RGB), f.W*f.H*3, f.W, f.H)
	}
	return nil
}

// minSide is the smallest frame side the propagator accepts; DIS optical
// flow needs at least this much at flow resolution.
const minSide = 16

// scaled is the size of a w×h image at scale s, with sides at least
// minSide and at most w×h.
func scaled(w, h int, s float64) (int, int) {
	sw := max(minSide, int(math.Round(float64(w)*s)))
	sh := max(minSide, int(math.Round(float64(h)*s)))
	if s == 1 || sw > w || sh > h {
		return w, h
	}
	return sw, sh
}

// loadFrame computes the grey image of f at short-term flow resolution into
// short and at long-term flow resolution into long.
func (p *Propagator) loadFrame(f media.Frame, short, long *gocv.Mat) error {
	buf, err := p.rgb.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("frame buffer: %w", err)
	}
	copy(buf, f.RGB)
	gocv.CvtColor(p.rgb, &p.grey, gocv.ColorRGBToGray)
	for _, d := range []struct {
		m    *gocv.Mat
		w, h int
	}{{short, p.sw, p.sh}, {long, p.lw, p.lh}} {
		if d.w == p.w && d.h == p.h {
			p.grey.CopyTo(d.m)
		} else {
			gocv.Resize(p.grey, d.m, image.Pt(d.w, d.h), 0, 0, gocv.InterpolationArea)
		}
	}
	return nil
}

// AddReference sets the labels of frame f as known. labels lists every
// object of that frame: ids absent from it are forgotten, new ids start
// being tracked, and the colour models are learned again. The first
// reference after New or Reset fixes the frame size.
func (p *Propagator) AddReference(ctx context.Context, f media.Frame, labels *mask.LabelMap) error {
	if p.closed {
		return fmt.Errorf("add reference: %w", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("add reference: %w", err)
	}
	if err := checkFrame(f); err != nil {
		return fmt.Errorf("add reference: %w", err)
	}
	if labels == nil {
		return errors.New("add reference: labels are nil: pass the frame's label map")
	}
	if labels.W != f.W || labels.H != f.H || len(labels.Pix) != f.W*f.H {
		return fmt.Errorf("add reference: labels are %dx%d (%d pixels) but the frame is %dx%d: pass labels of the frame's size",
			labels.W, labels.H, len(labels.Pix), f.W, f.H)
	}
	if p.ready && (f.W != p.w || f.H != p.h) {
		return fmt.Errorf("add reference: frame is %dx%d but this propagator tracks %dx%d: call Reset before changing size", f.W, f.H, p.w, p.h)
	}
	if f.W < minSide || f.H < minSide {
		return fmt.Errorf("add reference: frame is %dx%d, too small for optical flow: frames need sides of at least %d pixels", f.W, f.H, minSide)
	}
	boxes := map[uint16]image.Rectangle{}
	for i, v := range labels.Pix {
		if v == 0 {
			continue
		}
		x, y := i%f.W, i/f.W
		r := image.Rect(x, y, x+1, y+1)
		if b, ok := boxes[v]; ok {
			r = b.Union(r)
		}
		boxes[v] = r
	}
	if len(boxes) > p.opts.MaxObjects {
		return fmt.Errorf("add reference: %d objects exceed MaxObjects %d: raise Options.MaxObjects", len(boxes), p.opts.MaxObjects)
	}
	p.ensureFrameBuffers(f.W, f.H)
	if err := p.loadFrame(f, &p.prevSmall, &p.refLong); err != nil {
		return fmt.Errorf("add reference: %w", err)
	}
	copy(p.prevLabels, labels.Pix)
	copy(p.refLabels, labels.Pix)
	old := map[uint16]*object{}
	for _, o := range p.objects {
		old[o.id] = o
	}
	objs := make([]*object, 0, len(boxes))
	for _, id := range labels.IDs() {
		o := old[id]
		if o == nil {
			o = &object{id: id}
		}
		o.box, o.refBox = boxes[id], boxes[id]
		o.colour.learn(f.RGB, labels.Pix, id, p.ring(o.box), f.W, p.tune.llrClamp)
		objs = append(objs, o)
	}
	p.objects = objs
	p.ready = true
	return nil
}

// ring is the region around box whose other pixels are the object's
// background sample.
func (p *Propagator) ring(box image.Rectangle) image.Rectangle {
	m := max(16, max(box.Dx(), box.Dy())/4)
	return box.Inset(-m).Intersect(image.Rect(0, 0, p.w, p.h))
}

// Propagate predicts the labels of frame f, the frame after the last one
// given to AddReference or Propagate.
func (p *Propagator) Propagate(ctx context.Context, f media.Frame) (*mask.LabelMap, error) {
	if p.closed {
		return nil, fmt.Errorf("propagate: %w", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("propagate: %w", err)
	}
	if !p.ready {
		return nil, errors.New("propagate: no reference frame: call AddReference first")
	}
	if err := checkFrame(f); err != nil {
		return nil, fmt.Errorf("propagate: %w", err)
	}
	if f.W != p.w || f.H != p.h {
		return nil, fmt.Errorf("propagate: frame %d is %dx%d but the reference is %dx%d: call Reset and AddReference for a new size", f.Index, f.W, f.H, p.w, p.h)
	}
	if err := p.loadFrame(f, &p.curSmall, &p.curLong); err != nil {
		return nil, fmt.Errorf("propagate: %w", err)
	}
	out := mask.NewLabelMap(p.w, p.h)
	if len(p.objects) > 0 {
		if err := p.short.compute(p.dis, p.curSmall, p.prevSmall); err != nil {
			return nil, fmt.Errorf("propagate frame %d: %w", f.Index, err)
		}
		if p.tune.ltWeight > 0 {
			if err := p.long.compute(p.disLong, p.curLong, p.refLong); err != nil {
				return nil, fmt.Errorf("propagate frame %d: %w", f.Index, err)
			}
		}
		if err := p.fuse(f.RGB, out.Pix); err != nil {
			return nil, fmt.Errorf("propagate frame %d: %w", f.Index, err)
		}
	}
	copy(p.prevLabels, out.Pix)
	p.prevSmall, p.curSmall = p.curSmall, p.prevSmall
	return out, nil
}
