package video

import (
	"bufio"
	"encoding/binary"
	"io"
	"os"
)

// orientation is an EXIF orientation (TIFF tag 0x0112): how a picture as
// stored is turned and mirrored for display. Cameras and phones store
// pictures as the sensor read them and record the turn here; viewers,
// browsers, OpenCV's imread and ffmpeg all apply it, so a user's clicks are
// in the turned picture.
type orientation uint8

const (
	orientNone      orientation = 1 // as stored
	orientMirror    orientation = 2 // mirrored left to right
	orientRotate180 orientation = 3
	orientFlip      orientation = 4 // mirrored top to bottom
	orientTranspose orientation = 5 // mirrored along the main diagonal
	orientRotate90  orientation = 6 // turned a quarter clockwise
	orientTransvers orientation = 7 // mirrored along the other diagonal
	orientRotate270 orientation = 8 // turned a quarter anticlockwise
)

// swaps reports whether o exchanges width and height.
func (o orientation) swaps() bool { return o >= orientTranspose && o <= orientRotate270 }

// orientRGB writes the w x h packed RGB24 image src, as stored, into dst as
// displayed under o (a new buffer when dst is too small) and returns it;
// where o swaps, the result is h x w.
func orientRGB(dst, src []byte, w, h int, o orientation) []byte {
	n := w * h * 3
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	for y := 0; y < h; y++ {
		row := src[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x++ {
			var i int // the displayed pixel (dx, dy) at dy*width + dx
			switch o {
			case orientMirror:
				i = y*w + w - 1 - x
			case orientRotate180:
				i = (h-1-y)*w + w - 1 - x
			case orientFlip:
				i = (h-1-y)*w + x
			case orientTranspose: // (y, x) in an h-wide image
				i = x*h + y
			case orientRotate90: // (h-1-y, x)
				i = x*h + h - 1 - y
			case orientTransvers: // (h-1-y, w-1-x)
				i = (w-1-x)*h + h - 1 - y
			case orientRotate270: // (y, w-1-x)
				i = (w-1-x)*h + y
			default:
				i = y*w + x
			}
			copy(dst[i*3:i*3+3], row[x*3:x*3+3])
		}
	}
	return dst
}

// fileOrientation is the EXIF orientation of the JPEG file at path, and
// orientNone for any other file, or one it cannot read.
func fileOrientation(path string) orientation {
	if !isJPEGName(path) {
		return orientNone
	}
	return jpegFileOrientation(path)
}

// jpegFileOrientation is the EXIF orientation of the file at path, whatever
// its name, and orientNone where it is not a JPEG or cannot be read.
func jpegFileOrientation(path string) orientation {
	f, err := os.Open(path)
	if err != nil {
		return orientNone
	}
	defer f.Close()
	return jpegOrientation(f)
}

// jpegOrientation reads a JPEG's header segments up to the picture data and
// returns the orientation of its EXIF block: orientNone where there is none,
// where r is not a JPEG, or where the block is damaged (a bad orientation is
// ignored, as viewers ignore it).
func jpegOrientation(r io.Reader) orientation {
	br := bufio.NewReaderSize(r, 4096)
	var b [2]byte
	if _, err := io.ReadFull(br, b[:]); err != nil || b[0] != 0xFF || b[1] != 0xD8 {
		return orientNone
	}
	for {
		c, err := br.ReadByte()
		if err != nil || c != 0xFF {
			return orientNone
		}
		m := byte(0xFF)
		for m == 0xFF { // fill bytes before a marker
			if m, err = br.ReadByte(); err != nil {
				return orientNone
			}
		}
		switch {
		case m == 0x01 || (m >= 0xD0 && m <= 0xD8): // markers without a segment
			continue
		case m == 0xDA || m == 0xD9: // the picture data (or the end) starts: no EXIF block before it
			return orientNone
		}
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return orientNone
		}
		n := int(binary.BigEndian.Uint16(b[:])) - 2
		if n < 0 {
			return orientNone
		}
		if m != 0xE1 { // not APP1
			if _, err := br.Discard(n); err != nil {
				return orientNone
			}
			continue
		}
		seg := make([]byte, n)
		if _, err := io.ReadFull(br, seg); err != nil {
			return orientNone
		}
		if o, ok := exifOrientation(seg); ok {
			return o
		} // another APP1 block (XMP): read on
	}
}

// exifOrientation reads the orientation from an APP1 segment's payload; ok
// is false where the segment is not an EXIF block.
func exifOrientation(seg []byte) (o orientation, ok bool) {
	const hdr = "Exif\x00\x00"
	if len(seg) < len(hdr)+8 || string(seg[:len(hdr)]) != hdr {
		return 0, false
	}
	t := seg[len(hdr):] // the TIFF structure
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return orientNone, true
	}
	if bo.Uint16(t[2:]) != 42 {
		return orientNone, true
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return orientNone, true
	}
	count := int64(bo.Uint16(t[ifd:]))
	for i := int64(0); i < count; i++ {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			break
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		if bo.Uint16(t[e+2:]) != 3 || bo.Uint32(t[e+4:]) < 1 { // SHORT, one value
			return orientNone, true
		}
		if v := bo.Uint16(t[e+8:]); v >= 1 && v <= 8 {
			return orientation(v), true
		}
		return orientNone, true
	}
	return orientNone, true
}
