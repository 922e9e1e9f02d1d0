package inpaint

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "cv.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gocv.io/x/gocv"

	"samtrack/mask"
)

// Method is OpenCV's inpainting algorithm.
type Method int

// The two algorithms of cv::inpaint.
const (
	NavierStokes Method = 0
	Telea        Method = 1
)

func (m Method) String() string {
	if m == Telea {
		return "telea"
	}
	return "ns"
}

// ParseMethod reads "telea" or "ns".
func ParseMethod(s string) (Method, error) {
	switch s {
	case "telea", "":
		return Telea, nil
	case "ns", "navier-stokes":
		return NavierStokes, nil
	}
	return 0, fmt.Errorf("unknown inpainting method %q: use telea or ns", s)
}

// Classical synthesises with cv::inpaint (no weights). It holds no native
// memory between calls.
type Classical struct {
	Method Method
	// Radius is the neighbourhood cv::inpaint considers (default 5 px).
	Radius float64
}

// Name says which synthesiser this is.
func (c Classical) Name() string { return "opencv-" + c.Method.String() }

// Close does nothing: Classical keeps no native resources.
func (c Classical) Close() error { return nil }

// Synthesize fills the hole pixels of rgb (w x h packed RGB24) in place.
func (c Classical) Synthesize(rgb []byte, w, h int, hole *mask.Bitmap) error {
	radius := c.Radius
	if radius <= 0 {
		radius = 5
	}
	src, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, rgb)
	if err != nil {
		return fmt.Errorf("inpaint: wrap frame: %w", err)
	}
	defer src.Close()
	mb := make([]byte, w*h)
	for i, v := range hole.Pix {
		if v != 0 {
			mb[i] = 255
		}
	}
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC1, mb)
	if err != nil {
		return fmt.Errorf("inpaint: wrap mask: %w", err)
	}
	defer m.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	buf := (*C.char)(C.malloc(512))
	defer C.free(unsafe.Pointer(buf))
	if C.Inpaint_Run(unsafe.Pointer(src.Ptr()), unsafe.Pointer(m.Ptr()), unsafe.Pointer(dst.Ptr()), C.double(radius), C.int(c.Method), buf, 512) != 0 {
		return fmt.Errorf("inpaint (%s): %s", c.Name(), C.GoString(buf))
	}
	out, err := dst.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("inpaint: read result: %w", err)
	}
	for i, v := range hole.Pix {
		if v != 0 {
			copy(rgb[i*3:i*3+3], out[i*3:i*3+3])
		}
	}
	return nil
}
