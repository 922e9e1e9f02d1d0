package video

import (
	"fmt"
	"image"
	_ "image/jpeg" // header parsers for ImageSize
	_ "image/png"
	"io"
	"os"
)

// ImageSize reads a JPEG or PNG header and refuses a picture over
// maxPixels (width x height; 0: no limit) before anything is decoded, so
// that a small file declaring a huge picture costs nothing. A format Go
// cannot parse is let through (FFmpeg decides later).
func ImageSize(r io.Reader, maxPixels int) (w, h int, err error) {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return 0, 0, nil
	}
	if maxPixels > 0 && int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return cfg.Width, cfg.Height, fmt.Errorf("%w: the image is %dx%d, over the %d-pixel limit (video.max_pixels); scale it down first", ErrTooLarge, cfg.Width, cfg.Height, maxPixels)
	}
	return cfg.Width, cfg.Height, nil
}

// imageFileSize is ImageSize on a file.
func imageFileSize(path string, maxPixels int) error {
	if maxPixels <= 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil // the decoder reports it
	}
	defer f.Close()
	if _, _, err := ImageSize(f, maxPixels); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
