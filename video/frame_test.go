package video

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"
)

func TestReadFrame(t *testing.T) {
	need(t, catMP4)
	all, _, err := readAll(t, catMP4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	img, info, err := ReadFrame(context.Background(), catMP4, 37, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Frames != 149 || !bytes.Equal(img.RGB, all[37].RGB) {
		t.Errorf("frame 37: %d frames in info, same pixels as a full decode: %v", info.Frames, bytes.Equal(img.RGB, all[37].RGB))
	}
	// ReadFrameNext also gives the frame after, and none after the last.
	for _, n := range []int{37, 148} {
		img, next, _, err := ReadFrameNext(context.Background(), catMP4, n, Options{})
		if err != nil || !bytes.Equal(img.RGB, all[n].RGB) {
			t.Fatalf("ReadFrameNext %d: %v", n, err)
		}
		if n+1 < len(all) && (next == nil || !bytes.Equal(next.RGB, all[n+1].RGB)) {
			t.Errorf("ReadFrameNext %d: the next picture is not frame %d", n, n+1)
		}
		if n+1 == len(all) && next != nil {
			t.Errorf("ReadFrameNext %d, the last frame: a next picture", n)
		}
	}
	for _, tc := range []struct {
		name      string
		n         int
		opts      Options
		problem   FrameProblem
		delivered int
	}{
		{"negative", -1, Options{}, FrameNegative, 0},
		{"past the end", 149, Options{}, FramePastEnd, 149},
		{"between strides", 3, Options{Stride: 2}, FrameSkipped, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadFrame(context.Background(), catMP4, tc.n, tc.opts)
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Problem != tc.problem || fe.N != tc.n || fe.Delivered != tc.delivered {
				t.Fatalf("got %v (%+v), want problem %d with %d delivered", err, fe, tc.problem, tc.delivered)
			}
		})
	}
	if _, _, err := ReadFrame(context.Background(), "does-not-exist.mp4", 0, Options{}); err == nil || errors.As(err, new(*FrameError)) {
		t.Errorf("missing input: got %v, want Open's error", err)
	}
}

func TestDecodeImage(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 5, 3))
	src.Set(4, 2, color.RGBA{10, 20, 30, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, src); err != nil {
		t.Fatal(err)
	}
	img, err := DecodeImage(buf.Bytes(), 0)
	if err != nil || img.W != 5 || img.H != 3 || !bytes.Equal(img.RGB[len(img.RGB)-3:], []byte{10, 20, 30}) {
		t.Fatalf("decode: %v, %dx%d, last pixel %v", err, img.W, img.H, img.RGB[len(img.RGB)-3:])
	}
	if _, err := DecodeImage(buf.Bytes(), 14); !errors.Is(err, ErrTooLarge) {
		t.Errorf("15 pixels over a 14-pixel limit: got %v, want ErrTooLarge", err)
	}
	if _, err := DecodeImage([]byte("not an image"), 0); err == nil || errors.Is(err, ErrTooLarge) {
		t.Errorf("text: got %v, want the decoder's error", err)
	}
	// A PNG declaring 0x3 pixels: IHDR's width zeroed, its CRC redone.
	empty := bytes.Clone(buf.Bytes())
	binary.BigEndian.PutUint32(empty[16:20], 0)
	binary.BigEndian.PutUint32(empty[29:33], crc32.ChecksumIEEE(empty[12:29]))
	// Go's PNG decoder refuses it already (EmptyImageError guards other
	// decoders): an error, not an empty image.
	if img, err := DecodeImage(empty, 0); err == nil {
		t.Errorf("0x3 image: decoded as %dx%d, want an error", img.W, img.H)
	}
	if b, err := os.ReadFile(blackswanJPEG + "/00000.jpg"); err == nil {
		if img, err := DecodeImage(b, 0); err != nil || img.W != 854 || img.H != 480 {
			t.Errorf("blackswan JPEG: %v, %dx%d", err, img.W, img.H)
		}
	}
}
