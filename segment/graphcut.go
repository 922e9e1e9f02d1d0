//go:build !nogocv

package segment

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "graphcut.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// cutGrid labels the w×h RGB image's pixels by a minimum cut (see
// GraphCut_Grid in graphcut.h): fromSource[i] is what pixel i pays to be
// background, toSink[i] to be foreground, and gamma weighs the contrast-
// sensitive 8-neighbour smoothness. It sets out[i] to 1 for foreground.
func cutGrid(rgb []byte, w, h int, fromSource, toSink []float64, gamma float64, out []byte) error {
	n := w * h
	if w <= 0 || h <= 0 || len(rgb) != 3*n || len(fromSource) != n || len(toSink) != n || len(out) != n {
		return fmt.Errorf("graph cut: %dx%d image with %d colour bytes, %d and %d costs, %d outputs", w, h, len(rgb), len(fromSource), len(toSink), len(out))
	}
	var msg [256]C.char
	if C.GraphCut_Grid((*C.uchar)(unsafe.Pointer(&rgb[0])), C.int(w), C.int(h),
		(*C.double)(unsafe.Pointer(&fromSource[0])), (*C.double)(unsafe.Pointer(&toSink[0])),
		C.double(gamma), (*C.uchar)(unsafe.Pointer(&out[0])), &msg[0], C.int(len(msg))) != 0 {
		return fmt.Errorf("graph cut: %s", C.GoString(&msg[0]))
	}
	return nil
}
