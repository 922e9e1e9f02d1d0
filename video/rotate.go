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

// rotateRGB writes the w x h packed RGB24 image src rotated clockwise by
// deg (90, 180 or 270) into dst (a new buffer when dst is too small) and
// returns it; for 90 and 270 the result is h x w.
func rotateRGB(dst, src []byte, w, h, deg int) []byte {
	o := orientRotate180
	switch deg {
	case 90:
		o = orientRotate90
	case 270:
		o = orientRotate270
	}
	return orientRGB(dst, src, w, h, o)
}
