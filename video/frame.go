package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io"

	"samtrack/media"
)

// FrameProblem says why ReadFrame could not deliver the frame asked for.
type FrameProblem int

const (
	// FrameNegative: the frame number is below 0.
	FrameNegative FrameProblem = iota
	// FramePastEnd: the input ends before the frame.
	FramePastEnd
	// FrameSkipped: the frame is not delivered with the stride in use.
	FrameSkipped
	// FrameDecode: decoding failed before the frame (Err says why).
	FrameDecode
)

// FrameError is ReadFrame's error once the input is open. Callers word it
// for their users (a command-line flag, a JSON field).
type FrameError struct {
	N         int          // the frame asked for
	Problem   FrameProblem // what went wrong
	Delivered int          // frames delivered before the end (FramePastEnd)
	Err       error        // the decoder's error (FrameDecode)
}

func (e *FrameError) Error() string {
	switch e.Problem {
	case FrameNegative:
		return fmt.Sprintf("frame %d: frame numbers start at 0", e.N)
	case FramePastEnd:
		return fmt.Sprintf("frame %d: the input has only %d frames", e.N, e.Delivered)
	case FrameSkipped:
		return fmt.Sprintf("frame %d is not delivered with the stride in use", e.N)
	}
	return fmt.Sprintf("decode frame %d: %v", e.N, e.Err)
}

func (e *FrameError) Unwrap() error { return e.Err }

// ReadFrame decodes frame n (counting from 0, in the input's numbering) of
// src with opts, and returns it with the input's Info. An error opening src
// is Open's; every later error is a *FrameError.
func ReadFrame(ctx context.Context, src string, n int, opts Options) (media.Image, Info, error) {
	img, _, info, err := readFrame(ctx, src, n, opts, false)
	return img, info, err
}

// ReadFrameNext is ReadFrame that also returns the frame delivered after
// frame n (nil when there is none or it cannot be decoded: frame n is
// still good), for a segmenter that uses the motion between the two.
func ReadFrameNext(ctx context.Context, src string, n int, opts Options) (media.Image, *media.Image, Info, error) {
	return readFrame(ctx, src, n, opts, true)
}

func readFrame(ctx context.Context, src string, n int, opts Options, wantNext bool) (media.Image, *media.Image, Info, error) {
	if n < 0 {
		return media.Image{}, nil, Info{}, &FrameError{N: n, Problem: FrameNegative}
	}
	s, err := Open(ctx, src, opts)
	if err != nil {
		return media.Image{}, nil, Info{}, err
	}
	defer s.Close()
	for {
		f, err := s.Next(ctx)
		if errors.Is(err, io.EOF) {
			return media.Image{}, nil, Info{}, &FrameError{N: n, Problem: FramePastEnd, Delivered: s.Stats().Delivered}
		}
		if err != nil {
			return media.Image{}, nil, Info{}, &FrameError{N: n, Problem: FrameDecode, Err: err}
		}
		if f.Index == n {
			var next *media.Image
			if wantNext {
				if nf, err := s.Next(ctx); err == nil {
					next = &nf.Image
				}
			}
			return f.Image, next, s.Info(), nil
		}
		if f.Index > n {
			return media.Image{}, nil, Info{}, &FrameError{N: n, Problem: FrameSkipped}
		}
	}
}

// EmptyImageError is DecodeImage's error for a picture of no pixels.
type EmptyImageError struct{ W, H int }

func (e *EmptyImageError) Error() string {
	return fmt.Sprintf("image of %dx%d pixels is empty", e.W, e.H)
}

// DecodeImage decodes a PNG or JPEG into packed RGB, turned upright as its
// EXIF orientation says (as viewers show it). The header is checked
// first: a picture over maxPixels (width x height; 0: no limit) is refused
// before it is decoded, with an error wrapping ErrTooLarge (a decompression
// bomb guard), and one of no pixels with an *EmptyImageError. Any other
// error is the image decoder's.
func DecodeImage(b []byte, maxPixels int) (media.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return media.Image{}, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return media.Image{}, &EmptyImageError{W: cfg.Width, H: cfg.Height}
	}
	if _, _, err := ImageSize(bytes.NewReader(b), maxPixels); err != nil {
		return media.Image{}, err
	}
	im, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return media.Image{}, err
	}
	bd := im.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, bd.Dx(), bd.Dy()))
	draw.Draw(rgba, rgba.Bounds(), im, bd.Min, draw.Src)
	out := media.Image{W: bd.Dx(), H: bd.Dy(), RGB: make([]byte, bd.Dx()*bd.Dy()*3)}
	for i, j := 0, 0; i < len(rgba.Pix); i, j = i+4, j+3 {
		out.RGB[j], out.RGB[j+1], out.RGB[j+2] = rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2]
	}
	if o := jpegOrientation(bytes.NewReader(b)); o != orientNone {
		out.RGB = orientRGB(nil, out.RGB, out.W, out.H, o)
		if o.swaps() {
			out.W, out.H = out.H, out.W
		}
	}
	return out, nil
}
