package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"

	"samtrack/media"
	"samtrack/video"
)

// readImage decodes a picture file into packed RGB: JPEG and PNG directly,
// any other format FFmpeg reads (WebP, GIF's first frame, BMP, TIFF) as a
// one-frame input.
func readImage(ctx context.Context, path string, opts video.Options) (media.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return media.Image{}, fmt.Errorf("open image: %w", err)
	}
	img, err := video.DecodeImage(b, opts.MaxPixels)
	var empty *video.EmptyImageError
	switch {
	case err == nil:
		return img, nil
	case errors.Is(err, video.ErrTooLarge), errors.As(err, &empty):
		return media.Image{}, fmt.Errorf("image %s: %w", path, err)
	case errors.Is(err, image.ErrFormat):
		opts.MaxFrames = 1
		if img, _, ferr := video.ReadFrame(ctx, path, 0, opts); ferr == nil {
			return img, nil
		}
	}
	return media.Image{}, fmt.Errorf("decode image %s: %w (want a picture file: JPEG, PNG, WebP, GIF, BMP or TIFF)", path, err)
}

// readVideoFrame decodes frame n (counting from 0) of a video, wording its
// errors for --frame.
func readVideoFrame(ctx context.Context, src string, n int, opts video.Options) (media.Image, *media.Image, error) {
	img, next, _, err := video.ReadFrameNext(ctx, src, n, opts)
	var fe *video.FrameError
	if err == nil || !errors.As(err, &fe) {
		return img, next, err
	}
	switch fe.Problem {
	case video.FrameNegative:
		return img, nil, fmt.Errorf("--frame %d: frame numbers start at 0", n)
	case video.FramePastEnd:
		return img, nil, fmt.Errorf("--frame %d: %s has only %d frames", n, src, fe.Delivered)
	case video.FrameSkipped:
		return img, nil, fmt.Errorf("--frame %d is not delivered with the configured stride", n)
	}
	return img, nil, fmt.Errorf("decode %s: %w", src, fe.Err)
}
