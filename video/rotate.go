package video

import (
	"math"

	"github.com/asticode/go-astiav"
)

// streamRotation is the clockwise rotation, in degrees (0, 90, 180 or 270),
// that the stream's display matrix asks a player to apply, as ffmpeg's
// autorotation applies it. Matrices that are not a quarter turn (mirroring,
// shear) are ignored.
func streamRotation(st *astiav.Stream) int {
	b := st.SideData(astiav.PacketSideDataTypeDisplaymatrix)
	if len(b) < 36 {
		return 0
	}
	m, err := astiav.NewDisplayMatrixFromBytes(b)
	if err != nil {
		return 0
	}
	deg := m.Rotation() // clockwise
	if math.IsNaN(deg) {
		return 0
	}
	q := int(math.Round(deg/90)) % 4
	if q < 0 {
		q += 4
	}
	return q * 90
}

// rotationOrientation is the orientation of a clockwise turn of deg
// degrees (0, 90, 180 or 270).
func rotationOrientation(deg int) orientation {
	switch deg {
	case 90:
		return orientRotate90
	case 180:
		return orientRotate180
	case 270:
		return orientRotate270
	}
	return orientNone
}

// rotation is the clockwise turn of o in degrees: 0 for orientations that
// mirror, or do nothing.
func (o orientation) rotation() int {
	switch o {
	case orientRotate90:
		return 90
	case orientRotate180:
		return 180
	case orientRotate270:
		return 270
	}
	return 0
}
