package video

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"samtrack/media"
)

// exifJPEG inserts an APP1 EXIF block holding orientation o (byte order
// bo) right after a JPEG's SOI marker, behind an XMP APP1 block when xmp is
// set (viewers read on to the EXIF one).
func exifJPEG(t testing.TB, jpg []byte, o uint16, bo binary.ByteOrder, xmp bool) []byte {
	t.Helper()
	tiff := make([]byte, 8+2+12*2+4)
	if bo == binary.LittleEndian {
		copy(tiff, "II")
	} else {
		copy(tiff, "MM")
	}
	bo.PutUint16(tiff[2:], 42)
	bo.PutUint32(tiff[4:], 8)
	bo.PutUint16(tiff[8:], 2)
	e := tiff[10:]
	bo.PutUint16(e[0:], 0x010F) // Make, ASCII, 4 bytes inline: an entry before the orientation
	bo.PutUint16(e[2:], 2)
	bo.PutUint32(e[4:], 4)
	copy(e[8:], "cam\x00")
	bo.PutUint16(e[12:], 0x0112)
	bo.PutUint16(e[14:], 3)
	bo.PutUint32(e[16:], 1)
	bo.PutUint16(e[20:], o)
	segment := func(payload []byte) []byte {
		return append([]byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}, payload...)
	}
	out := append([]byte{}, jpg[:2]...)
	if xmp {
		out = append(out, segment([]byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"))...)
	}
	out = append(out, segment(append([]byte("Exif\x00\x00"), tiff...))...)
	return append(out, jpg[2:]...)
}

// displayedAt says where stored pixel (x, y) of a w x h picture is shown
// under EXIF orientation o, from the standard's own wording: which side of
// the displayed picture the stored row 0 and the stored column 0 are on.
func displayedAt(x, y, w, h int, o uint16) (dx, dy, dw, dh int) {
	sides := map[uint16][2]string{ // row 0, column 0
		1: {"top", "left"}, 2: {"top", "right"}, 3: {"bottom", "right"}, 4: {"bottom", "left"},
		5: {"left", "top"}, 6: {"right", "top"}, 7: {"right", "bottom"}, 8: {"left", "bottom"},
	}[o]
	if sides[0] == "top" || sides[0] == "bottom" { // rows stay rows
		dw, dh, dx, dy = w, h, x, y
		if sides[0] == "bottom" {
			dy = h - 1 - y
		}
		if sides[1] == "right" {
			dx = w - 1 - x
		}
		return
	}
	dw, dh, dx, dy = h, w, y, x // stored rows become columns
	if sides[0] == "right" {
		dx = h - 1 - y
	}
	if sides[1] == "bottom" {
		dy = w - 1 - x
	}
	return
}

// TestEXIFOrientation: a JPEG whose EXIF block says how to turn it (a
// phone photo) is read upright, as viewers and browsers show it and as the
// user clicks on it, for each of the eight orientations and both byte
// orders, by DecodeImage (samtrack segment --image, the service's uploads),
// by a folder of frames, and by the photo opened as an input itself.
func TestEXIFOrientation(t *testing.T) {
	const w, h = 48, 32
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ { // 8x8 blocks, each its own colour, so JPEG keeps them
			bx, by := x/8, y/8
			src.Set(x, y, color.RGBA{uint8(40 * bx), uint8(60 * by), uint8(255 - 30*bx - 20*by), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	plain := buf.Bytes()
	stored, err := DecodeImage(plain, 0) // no EXIF block: as stored
	if err != nil {
		t.Fatal(err)
	}
	for o := uint16(1); o <= 8; o++ {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			t.Run(fmt.Sprintf("orientation %d %v", o, bo), func(t *testing.T) {
				jpg := exifJPEG(t, plain, o, bo, o%2 == 0)
				var want media.Image
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						dx, dy, dw, dh := displayedAt(x, y, w, h, o)
						if want.RGB == nil {
							want = media.Image{W: dw, H: dh, RGB: make([]byte, dw*dh*3)}
						}
						copy(want.RGB[(dy*dw+dx)*3:][:3], stored.RGB[(y*w+x)*3:][:3])
					}
				}
				got, err := DecodeImage(jpg, 0)
				if err != nil {
					t.Fatal(err)
				}
				if got.W != want.W || got.H != want.H || !bytes.Equal(got.RGB, want.RGB) {
					t.Errorf("DecodeImage: %dx%d, want the displayed %dx%d picture (equal: %v)", got.W, got.H, want.W, want.H, bytes.Equal(got.RGB, want.RGB))
				}
				// A folder of such frames (FFmpeg decodes them).
				dir := t.TempDir()
				for i := 0; i < 2; i++ {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.jpg", i)), jpg, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				frames, s, err := readAll(t, dir, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if info := s.Info(); info.SrcWidth != want.W || info.SrcHeight != want.H {
					t.Errorf("folder source size %dx%d, want the displayed %dx%d", info.SrcWidth, info.SrcHeight, want.W, want.H)
				}
				// And the photo alone, opened as a one-frame input, with and
				// without its extension (an upload, a file from a camera app).
				bare := filepath.Join(t.TempDir(), "photo")
				if err := os.WriteFile(bare, jpg, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{filepath.Join(dir, "00000.jpg"), bare} {
					single, _, err := readAll(t, p, Options{})
					if err != nil {
						t.Fatal(err)
					}
					frames = append(frames, single...)
				}
				for _, f := range frames {
					if f.W != want.W || f.H != want.H {
						t.Fatalf("frame %d (%s): %dx%d, want %dx%d", f.Index, f.Name, f.W, f.H, want.W, want.H)
					}
					if p := psnrBuf(f.RGB, want.RGB); p < 35 {
						t.Errorf("folder frame %d: PSNR %.1f dB against the displayed picture, want >= 35", f.Index, p)
					}
				}
			})
		}
	}
}

// TestJPEGOrientationDamaged: a missing, damaged or lying EXIF block means
// no turn, never a panic or a wrong turn.
func TestJPEGOrientationDamaged(t *testing.T) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	good := exifJPEG(t, buf.Bytes(), 6, binary.BigEndian, false)
	cases := []struct {
		name string
		data []byte
		want orientation
	}{
		{"the good one", good, orientRotate90},
		{"no EXIF", buf.Bytes(), orientNone},
		{"empty", nil, orientNone},
		{"a PNG", []byte("\x89PNG\r\n\x1a\n"), orientNone},
		{"cut inside the EXIF block", good[:30], orientNone},
		{"orientation 9", bytes.Replace(good, []byte{0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06}, []byte{0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x09}, 1), orientNone},
		{"orientation as a LONG", bytes.Replace(good, []byte{0x01, 0x12, 0x00, 0x03}, []byte{0x01, 0x12, 0x00, 0x04}, 1), orientNone},
		{"entry count past the block", bytes.Replace(good, []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x02"), []byte("MM\x00\x2a\x00\x00\x00\x08\xff\xff"), 1), orientRotate90},
		{"first directory past the block", bytes.Replace(good, []byte("MM\x00\x2a\x00\x00\x00\x08"), []byte("MM\x00\x2a\x7f\x00\x00\x08"), 1), orientNone},
		{"not TIFF", bytes.Replace(good, []byte("MM\x00\x2a"), []byte("XX\x00\x2a"), 1), orientNone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := jpegOrientation(bytes.NewReader(c.data)); got != c.want {
				t.Errorf("orientation %d, want %d", got, c.want)
			}
		})
	}
}
