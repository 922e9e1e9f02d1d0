package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // decoders for --image
	_ "image/png"
	"io"
	"os"

	"samtrack/media"
	"samtrack/video"
)

// readImage decodes a JPEG or PNG file into packed RGB.
func readImage(path string, maxPixels int) (media.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return media.Image{}, fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	if _, _, err := video.ImageSize(f, maxPixels); err != nil {
		return media.Image{}, fmt.Errorf("image %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return media.Image{}, fmt.Errorf("read image %s: %w", path, err)
	}
	im, _, err := image.Decode(f)
	if err != nil {
		return media.Image{}, fmt.Errorf("decode image %s: %w (want a JPEG or PNG file)", path, err)
	}
	b := im.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), im, b.Min, draw.Src)
	out := media.Image{W: b.Dx(), H: b.Dy(), RGB: make([]byte, b.Dx()*b.Dy()*3)}
	for i, j := 0, 0; i < len(rgba.Pix); i, j = i+4, j+3 {
		out.RGB[j], out.RGB[j+1], out.RGB[j+2] = rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2]
	}
	return out, nil
}

// readVideoFrame decodes frame n (counting from 0) of a video.
func readVideoFrame(ctx context.Context, src string, n int, opts video.Options) (media.Image, error) {
	if n < 0 {
		return media.Image{}, fmt.Errorf("--frame %d: frame numbers start at 0", n)
	}
	s, err := video.Open(ctx, src, opts)
	if err != nil {
		return media.Image{}, err
	}
	defer s.Close()
	for {
		f, err := s.Next(ctx)
		if errors.Is(err, io.EOF) {
			return media.Image{}, fmt.Errorf("--frame %d: %s has only %d frames", n, src, s.Stats().Delivered)
		}
		if err != nil {
			return media.Image{}, fmt.Errorf("decode %s: %w", src, err)
		}
		if f.Index == n {
			return f.Image, nil
		}
		if f.Index > n {
			return media.Image{}, fmt.Errorf("--frame %d is not delivered with the configured stride", n)
		}
	}
}
