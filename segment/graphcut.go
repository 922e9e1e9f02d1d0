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
	"math"
	"unsafe"
)

// nLinks are the smoothness weights of a w×h grid: what pixel i pays to
// take another label than its left, up-left, up and up-right neighbour.
type nLinks struct {
	w, h                     int
	left, upLeft, up, upRght []float64
}

// contrastLinks are cv::grabCut's contrast-sensitive weights for the RGB
// image rgb: gamma·exp(−beta·|Δcolour|²), divided by √2 on diagonals, with
// beta = 1/(2·mean |Δcolour|²) over all neighbour pairs.
func contrastLinks(rgb []byte, w, h int, gamma float64) nLinks {
	n := w * h
	l := nLinks{w: w, h: h, left: make([]float64, n), upLeft: make([]float64, n), up: make([]float64, n), upRght: make([]float64, n)}
	dirs := []struct {
		dx, dy int
		out    []float64
	}{{-1, 0, l.left}, {-1, -1, l.upLeft}, {0, -1, l.up}, {1, -1, l.upRght}}
	sq := func(i, j int) float64 {
		d0, d1, d2 := float64(rgb[3*i])-float64(rgb[3*j]), float64(rgb[3*i+1])-float64(rgb[3*j+1]), float64(rgb[3*i+2])-float64(rgb[3*j+2])
		return d0*d0 + d1*d1 + d2*d2
	}
	sum, pairs := 0.0, 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for _, d := range dirs {
				if nx, ny := x+d.dx, y+d.dy; nx >= 0 && ny >= 0 && nx < w {
					d.out[y*w+x] = sq(y*w+x, ny*w+nx)
					sum += d.out[y*w+x]
					pairs++
				}
			}
		}
	}
	beta := 0.0
	if sum > 0 {
		beta = 1 / (2 * sum / float64(pairs))
	}
	for _, d := range dirs {
		g := gamma
		if d.dx != 0 && d.dy != 0 {
			g = gamma / math.Sqrt2
		}
		for i, v := range d.out {
			d.out[i] = g * math.Exp(-beta*v)
		}
	}
	return l
}

// What a pixel of cutGrid's fixed argument says.
const (
	cutFree       = byte(C.GRAPHCUT_FREE)
	cutForeground = byte(C.GRAPHCUT_FOREGROUND)
	cutBackground = byte(C.GRAPHCUT_BACKGROUND)
)

// cutGrid labels the grid's pixels by a minimum cut (GraphCut_Grid in
// graphcut.h): fromSource[i] is what pixel i pays to be background,
// toSink[i] to be foreground, and l the smoothness. A pixel whose fixed[i]
// is cutForeground or cutBackground keeps that label and is left out of
// the graph, its links to free pixels folded into their costs: the same
// cut as with the pixel in the graph whenever no cut could relabel it
// (what it pays to change exceeds all its links), in less time. It sets
// out[i] to 1 for foreground.
func cutGrid(l nLinks, fixed []byte, fromSource, toSink []float64, out []byte) error {
	n := l.w * l.h
	if l.w <= 0 || l.h <= 0 || len(l.left) != n || len(fixed) != n || len(fromSource) != n || len(toSink) != n || len(out) != n {
		return fmt.Errorf("graph cut: %dx%d grid with %d links, %d fixed labels, %d and %d costs, %d outputs",
			l.w, l.h, len(l.left), len(fixed), len(fromSource), len(toSink), len(out))
	}
	var msg [256]C.char
	ptr := func(s []float64) *C.double { return (*C.double)(unsafe.Pointer(&s[0])) }
	bytes := func(s []byte) *C.uchar { return (*C.uchar)(unsafe.Pointer(&s[0])) }
	if C.GraphCut_Grid(C.int(l.w), C.int(l.h), bytes(fixed), ptr(fromSource), ptr(toSink), ptr(l.left), ptr(l.upLeft), ptr(l.up), ptr(l.upRght),
		bytes(out), &msg[0], C.int(len(msg))) != 0 {
		return fmt.Errorf("graph cut: %s", C.GoString(&msg[0]))
	}
	return nil
}
