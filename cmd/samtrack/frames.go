package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"samtrack/media"
	"samtrack/video"
)

// readImage decodes a JPEG or PNG file into packed RGB.
func readImage(path string, maxPixels int) (media.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return media.Image{}, fmt.Errorf("open image: %w", err)
	}
	img, err := video.DecodeImage(b, maxPixels)
	var empty *video.EmptyImageError
	switch {
	case err == nil:
		return img, nil
	case errors.Is(err, video.ErrTooLarge), errors.As(err, &empty):
		return media.Image{}, fmt.Errorf("image %s: %w", path, err)
	}
	return media.Image{}, fmt.Errorf("decode image %s: %w (want a JPEG or PNG file)", path, err)
}

// readVideoFrame decodes frame n (counting from 0) of a video, wording its
// errors for --frame.
func readVideoFrame(ctx context.Context, src string, n int, opts video.Options) (media.Image, error) {
	img, _, err := video.ReadFrame(ctx, src, n, opts)
	var fe *video.FrameError
	if err == nil || !errors.As(err, &fe) {
		return img, err
	}
	switch fe.Problem {
	case video.FrameNegative:
		return img, fmt.Errorf("--frame %d: frame numbers start at 0", n)
	case video.FramePastEnd:
		return img, fmt.Errorf("--frame %d: %s has only %d frames", n, src, fe.Delivered)
	case video.FrameSkipped:
		return img, fmt.Errorf("--frame %d is not delivered with the configured stride", n)
	}
	return img, fmt.Errorf("decode %s: %w", src, fe.Err)
}
