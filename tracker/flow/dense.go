package flow

import "gocv.io/x/gocv"

// Dense is DIS dense optical flow for callers outside the propagator (the
// temporal fill of package inpaint aligns frames with it). It owns one
// native cv::DISOpticalFlow; Close frees it. It is not safe for concurrent
// use.
type Dense struct{ d *dis }

// NewDense creates a DIS instance with the given preset.
func NewDense(preset Preset) (*Dense, error) {
	d, err := newDIS(preset)
	if err != nil {
		return nil, err
	}
	return &Dense{d: d}, nil
}

// Calc computes the flow from i0 to i1 (8-bit grey Mats of one size) into
// flow (CV_32FC2; reallocated only when its size differs): i0 at (x, y)
// shows what i1 shows at (x, y) + flow(x, y).
func (d *Dense) Calc(i0, i1 gocv.Mat, flow *gocv.Mat) error { return d.d.calc(i0, i1, flow) }

// Close releases the native instance; it is safe to call twice.
func (d *Dense) Close() error {
	d.d.close()
	return nil
}
