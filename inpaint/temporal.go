package inpaint

import (
	"context"
	"fmt"
	"image"

	"gocv.io/x/gocv"

	"samtrack/mask"
	"samtrack/media"
	"samtrack/tracker/flow"
)

// slot is one held frame of the window.
type slot struct {
	f     media.Frame
	hole  *mask.Bitmap // dilated, full size
	guard *mask.Bitmap // hole grown by half a margin more: never borrowed from
	small *mask.Bitmap // hole at flow scale, grown to cover flow contaminated by the object
	grey  gocv.Mat     // flow-scale grey
}

// Filler removes objects from a stream of frames. Push frames in order with
// their hole masks; each output frame comes back once Window later frames
// have been pushed (Flush returns the rest). It holds 2·Window+1 frames. It
// is not safe for concurrent use; Close frees its native resources.
type Filler struct {
	opts   Options
	dis    *flow.Dense
	flow   gocv.Mat
	w, h   int
	sw, sh int
	win    []*slot // held frames, oldest first
	cur    int     // index in win of the next frame to fill
	prev   []byte  // the previous output frame
	stats  Stats
	closed bool
}

// NewFiller checks opts and creates the optical flow it aligns frames with.
// It owns opts.Synth from then on: Close closes it, and so does a failing
// NewFiller.
func NewFiller(opts Options) (*Filler, error) {
	o, err := opts.withDefaults()
	if err != nil {
		if opts.Synth != nil {
			opts.Synth.Close()
		}
		return nil, err
	}
	d, err := flow.NewDense(flow.PresetFast)
	if err != nil {
		o.Synth.Close()
		return nil, fmt.Errorf("inpaint: %w", err)
	}
	return &Filler{opts: o, dis: d, flow: gocv.NewMat()}, nil
}

// Stats reports where the filled pixels came from so far.
func (f *Filler) Stats() Stats { return f.stats }

// Push adds the next frame and the union of the objects to remove in it
// (hole: 1 = remove, same size as the frame). It returns the frames that
// are now complete, in order; their RGB must not be modified.
func (f *Filler) Push(ctx context.Context, fr media.Frame, hole *mask.Bitmap) ([]media.Frame, error) {
	if f.closed {
		return nil, ErrClosed
	}
	s, err := f.newSlot(fr, hole)
	if err != nil {
		return nil, err
	}
	f.win = append(f.win, s)
	var out []media.Frame
	for f.cur+f.opts.Window < len(f.win) {
		o, err := f.next(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Flush fills the frames still held (the last Window frames of the video).
func (f *Filler) Flush(ctx context.Context) ([]media.Frame, error) {
	if f.closed {
		return nil, ErrClosed
	}
	var out []media.Frame
	for f.cur < len(f.win) {
		o, err := f.next(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, o)
	}
	return out, nil
}

// next fills win[cur] and drops the frames no later frame can borrow from.
func (f *Filler) next(ctx context.Context) (media.Frame, error) {
	if err := ctx.Err(); err != nil {
		return media.Frame{}, err
	}
	o, err := f.fill(f.cur)
	if err != nil {
		return media.Frame{}, err
	}
	f.cur++
	for f.cur > f.opts.Window {
		f.win[0].grey.Close()
		f.win[0] = nil
		f.win = f.win[1:]
		f.cur--
	}
	return o, nil
}

func (f *Filler) newSlot(fr media.Frame, hole *mask.Bitmap) (*slot, error) {
	if f.w == 0 {
		f.w, f.h = fr.W, fr.H
		scale := min(1, float64(f.opts.FlowSide)/float64(max(fr.W, fr.H)))
		f.sw, f.sh = max(8, int(float64(fr.W)*scale+0.5)), max(8, int(float64(fr.H)*scale+0.5))
	}
	if fr.W != f.w || fr.H != f.h || len(fr.RGB) < f.w*f.h*3 {
		return nil, fmt.Errorf("inpaint: frame %d is %dx%d, the video started at %dx%d; every frame must have one size", fr.Index, fr.W, fr.H, f.w, f.h)
	}
	if hole == nil || hole.W != f.w || hole.H != f.h {
		return nil, fmt.Errorf("inpaint: frame %d: the mask is missing or not %dx%d; scale masks to the video's size", fr.Index, f.w, f.h)
	}
	dil, err := hole.DilateDisk(f.opts.Margin)
	if err != nil {
		return nil, fmt.Errorf("inpaint: frame %d: %w", fr.Index, err)
	}
	fr.RGB = append([]byte(nil), fr.RGB[:f.w*f.h*3]...)
	s := &slot{f: fr, hole: dil}
	// A tracked mask can miss a rim of its object by more than the margin;
	// other frames borrow only from beyond half a margin more.
	if s.guard, err = dil.DilateDisk(max(4, f.opts.Margin/2)); err != nil {
		return nil, fmt.Errorf("inpaint: frame %d: %w", fr.Index, err)
	}
	if s.small, err = f.smallHole(dil); err != nil {
		return nil, err
	}
	if s.grey, err = f.smallGrey(fr.RGB); err != nil {
		return nil, err
	}
	return s, nil
}

// smallHole marks every flow-scale pixel that touches the hole, grown by 2
// pixels: DIS matches 8-pixel patches, so flow just outside the object
// still follows it.
func (f *Filler) smallHole(hole *mask.Bitmap) (*mask.Bitmap, error) {
	sm := mask.NewBitmap(f.sw, f.sh)
	for y := 0; y < f.h; y++ {
		sy := y * f.sh / f.h
		for x := 0; x < f.w; x++ {
			if hole.Pix[y*f.w+x] != 0 {
				sm.Pix[sy*f.sw+x*f.sw/f.w] = 1
			}
		}
	}
	return sm.DilateDisk(2)
}

// smallGrey converts packed RGB to grey at flow scale.
func (f *Filler) smallGrey(rgb []byte) (gocv.Mat, error) {
	g := make([]byte, f.w*f.h)
	for i := range g {
		r, gg, b := int(rgb[3*i]), int(rgb[3*i+1]), int(rgb[3*i+2])
		g[i] = byte((77*r + 150*gg + 29*b + 128) >> 8)
	}
	full, err := gocv.NewMatFromBytes(f.h, f.w, gocv.MatTypeCV8UC1, g)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("inpaint: grey frame: %w", err)
	}
	defer full.Close() // it borrows g's memory: keep only copies
	if f.sw == f.w && f.sh == f.h {
		return full.Clone(), nil
	}
	small := gocv.NewMat()
	gocv.Resize(full, &small, image.Pt(f.sw, f.sh), 0, 0, gocv.InterpolationArea)
	return small, nil
}
