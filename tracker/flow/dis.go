package flow

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "dis.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"gocv.io/x/gocv"
)

// OpenCVVersion is the OpenCV release the program runs with (for bug
// reports: samtrack version).
func OpenCVVersion() string { return gocv.OpenCVVersion() }

// Preset selects the speed/quality trade-off of DIS optical flow.
type Preset int

// The presets of cv::DISOpticalFlow.
const (
	PresetUltrafast Preset = 0
	PresetFast      Preset = 1
	PresetMedium    Preset = 2
)

func (p Preset) String() string {
	switch p {
	case PresetUltrafast:
		return "ultrafast"
	case PresetFast:
		return "fast"
	case PresetMedium:
		return "medium"
	}
	return fmt.Sprintf("Preset(%d)", int(p))
}

const errLen = 512

// dis owns one native cv::DISOpticalFlow instance.
type dis struct {
	p   C.DISFlow
	err *C.char // errLen bytes of native memory for error messages
}

func newDIS(preset Preset) (*dis, error) {
	if preset < PresetUltrafast || preset > PresetMedium {
		return nil, fmt.Errorf("DIS optical flow: unknown preset %d: use PresetUltrafast, PresetFast or PresetMedium", int(preset))
	}
	buf := (*C.char)(C.malloc(errLen))
	p := C.DISFlow_New(C.int(preset), buf, errLen)
	if p == nil {
		msg := C.GoString(buf)
		C.free(unsafe.Pointer(buf))
		return nil, fmt.Errorf("create DIS optical flow (%s): %s", preset, msg)
	}
	return &dis{p: p, err: buf}, nil
}

// calc computes the dense flow from i0 to i1 (8-bit grey, same size) into
// flow, a CV_32FC2 Mat that OpenCV reallocates only when its size differs.
func (d *dis) calc(i0, i1 gocv.Mat, flow *gocv.Mat) error {
	if d == nil || d.p == nil {
		return errors.New("DIS optical flow: used after Close")
	}
	if i0.Type() != gocv.MatTypeCV8UC1 || i1.Type() != gocv.MatTypeCV8UC1 || i0.Rows() != i1.Rows() || i0.Cols() != i1.Cols() {
		return fmt.Errorf("DIS optical flow: inputs must be 8-bit grey of one size, got %v %dx%d and %v %dx%d",
			i0.Type(), i0.Cols(), i0.Rows(), i1.Type(), i1.Cols(), i1.Rows())
	}
	if C.DISFlow_Calc(d.p, unsafe.Pointer(i0.Ptr()), unsafe.Pointer(i1.Ptr()), unsafe.Pointer(flow.Ptr()), d.err, errLen) != 0 {
		return fmt.Errorf("DIS optical flow: %s", C.GoString(d.err))
	}
	return nil
}

// close releases the native instance; it is safe to call twice.
func (d *dis) close() {
	if d != nil && d.p != nil {
		C.DISFlow_Close(d.p)
		C.free(unsafe.Pointer(d.err))
		d.p, d.err = nil, nil
	}
}
