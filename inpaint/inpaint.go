// Package inpaint owns object removal from video (samtrack remove): it
// dilates the chosen objects' masks by a margin, fills each frame's hole
// first with the background that nearby frames show (aligned by DIS optical
// flow, package tracker/flow), then with what the previous output frame
// carried, and synthesises only what no frame in its window shows, with
// OpenCV's cv::inpaint (Telea or Navier-Stokes, no weights) or a LaMa ONNX
// model (through package ort). It holds a bounded window of frames, never
// the whole video. OpenCV (cgo) is used where pixels are touched; every
// native resource has a Close.
package inpaint

import (
	"cmp"
	"errors"
	"fmt"

	"samtrack/config"
	"samtrack/mask"
)

// Synthesizer fills pixels that no frame shows. Synthesize changes only
// the hole pixels of rgb (w x h packed RGB24).
type Synthesizer interface {
	Synthesize(rgb []byte, w, h int, hole *mask.Bitmap) error
	Name() string
	Close() error
}

// Options tune the temporal fill. The zero value is usable: see the
// defaults on each field.
type Options struct {
	// Margin dilates every mask by this many pixels (a disk) so that no
	// halo of the object remains (default DefaultMargin; negative: 0).
	Margin int
	// Window is how many frames before and after a frame it may borrow
	// background from (default DefaultWindow): the nearest 4 on each side,
	// then every 25% further. Memory grows with it: 2·Window+1 frames are
	// held, each W·H·5 bytes (RGB, hole, guard) plus a flow-scale grey.
	Window int
	// FlowSide caps the longer side of the frames optical flow runs on
	// (default DefaultFlowSide); the flow is scaled back to full size.
	FlowSide int
	// Synth synthesises the never-seen pixels (default Classical Telea).
	Synth Synthesizer
}

// Defaults of Options.
const (
	DefaultMargin   = 16
	DefaultWindow   = 30
	DefaultFlowSide = 480
)

// FromConfig builds Options from the remove.* settings, opening the
// synthesiser: a LaMa model (through ONNX Runtime library lib) when
// r.Model is set, else OpenCV with r.Method. Close the Synth when done.
func FromConfig(r config.Remove, lib string) (Options, error) {
	o := Options{Margin: r.Margin, Window: r.Window}
	if r.Margin == 0 {
		o.Margin = -1 // zero in the configuration means no dilation
	}
	if r.Model != "" {
		l, err := OpenLaMa(r.Model, lib)
		if err != nil {
			return o, err
		}
		o.Synth = l
		return o, nil
	}
	m, err := ParseMethod(r.Method)
	if err != nil {
		return o, err
	}
	o.Synth = Classical{Method: m}
	return o, nil
}

// Check validates the options and returns them with defaults filled in.
func (o Options) Check() (Options, error) { return o.withDefaults() }

func (o Options) withDefaults() (Options, error) {
	if o.Margin == 0 {
		o.Margin = DefaultMargin
	} else if o.Margin < 0 {
		o.Margin = 0
	}
	if o.Margin > 200 {
		return o, fmt.Errorf("inpaint: margin %d px is too large: use 0-200", o.Margin)
	}
	o.Window = cmp.Or(o.Window, DefaultWindow)
	if o.Window < 0 || o.Window > 500 {
		return o, fmt.Errorf("inpaint: window %d frames: use 1-500", o.Window)
	}
	o.FlowSide = cmp.Or(o.FlowSide, DefaultFlowSide)
	if o.FlowSide < 32 {
		return o, fmt.Errorf("inpaint: flow side %d px is too small: use at least 32", o.FlowSide)
	}
	if o.Synth == nil {
		o.Synth = Classical{Method: Telea}
	}
	return o, nil
}

// Stats counts where the filled pixels came from.
type Stats struct {
	Frames int
	// Hole is the number of hole pixels over all frames (after dilation).
	Hole int64
	// Temporal pixels came from another frame of the window, Carried from
	// the previous output frame, Synthesised from the Synthesizer.
	Temporal, Carried, Synthesised int64
}

// ErrClosed: the Filler was used after Close.
var ErrClosed = errors.New("inpaint: use after Close")
