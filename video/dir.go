package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"samtrack/internal/natsort"
	"samtrack/media"
)

// openDir lists the images of a directory source and reads the first one to
// learn the frame size.
func (s *Source) openDir(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("open %s: list directory: %w", dir, err)
	}
	for _, e := range entries {
		if e.Type().IsDir() || !imageExt(e.Name()) {
			continue
		}
		s.files = append(s.files, e.Name())
	}
	if len(s.files) == 0 {
		return fmt.Errorf("open %s: %w: no .jpg, .jpeg or .png files in it; point at the folder that holds the frames (e.g. JPEGImages/480p/<sequence>)", dir, ErrEmptyDir)
	}
	natsort.Sort(s.files) // 1.jpg, 2.jpg, ..., 10.jpg in that order

	fps := s.opts.DirFPS
	s.info.FPS = fps
	s.info.Frames = len(s.files)
	s.info.Duration = time.Duration(float64(len(s.files)) / fps * float64(time.Second))
	if s.opts.Start > 0 {
		s.dirPos = int(math.Ceil(s.opts.Start.Seconds()*fps - 1e-6))
		s.stats.SkippedBeforeStart = min(s.dirPos, len(s.files))
	}

	// Probe the first readable image for the size.
	var lastErr error
	for i, name := range s.files {
		d, err := s.openImage(ctx, name)
		if err == nil {
			err = d.receive(ctx)
			if err == nil {
				s.info.SrcWidth, s.info.SrcHeight = d.frm.Width(), d.frm.Height()
				if fileOrientation(filepath.Join(dir, name)).swaps() {
					s.info.SrcWidth, s.info.SrcHeight = s.info.SrcHeight, s.info.SrcWidth
				}
				s.info.Codec = d.codec
			}
			d.close()
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("open %s: %w", dir, ctx.Err())
		}
		lastErr = err
		if i >= 9 {
			break
		}
	}
	if s.info.SrcWidth == 0 {
		return fmt.Errorf("open %s: %w: none of its first images could be decoded (last error: %v); check the image files", dir, ErrNotVideo, lastErr)
	}
	s.info.Width, s.info.Height = fitMaxSide(s.info.SrcWidth, s.info.SrcHeight, s.opts.MaxSide)
	s.conv = newRGBConverter(s.info.Width, s.info.Height)
	s.base = s.dirPos
	s.info.Planned = s.planned(len(s.files), fps)
	return nil
}

func (s *Source) openImage(ctx context.Context, name string) (*decoder, error) {
	return openDecoder(ctx, filepath.Join(s.info.Src, name), KindFile,
		decoderOptions{threads: 1, log: s.log, image: true, maxPixels: s.opts.MaxPixels})
}

func (s *Source) nextImage(ctx context.Context) (media.Frame, error) {
	for s.dirPos < len(s.files) {
		if err := ctx.Err(); err != nil {
			return media.Frame{}, err
		}
		pos := s.dirPos
		s.dirPos++
		name := s.files[pos]
		// Stride: only decode the images that are delivered.
		idx := pos
		if (pos-s.base)%s.opts.Stride != 0 {
			continue // not even read
		}
		rgb, err := s.readImage(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return media.Frame{}, ctx.Err()
			}
			s.stats.CorruptFrames++
			s.log.Warn("video: image could not be decoded, skipped", "src", s.info.Src, "file", name, "err", err)
			continue
		}
		s.stats.Decoded++
		s.stats.Delivered++
		return media.Frame{
			Index: idx,
			PTS:   time.Duration(float64(pos) / s.opts.DirFPS * float64(time.Second)),
			Name:  name,
			Image: media.Image{W: s.info.Width, H: s.info.Height, RGB: rgb},
		}, nil
	}
	s.stats.Ended = true
	s.done = io.EOF
	return media.Frame{}, io.EOF
}

func (s *Source) readImage(ctx context.Context, name string) ([]byte, error) {
	d, err := s.openImage(ctx, name)
	if err != nil {
		return nil, err
	}
	defer d.close()
	if err := d.receive(ctx); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("decode %s: no picture in the file", name)
		}
		return nil, err
	}
	o := fileOrientation(filepath.Join(s.info.Src, name))
	w, h := d.frm.Width(), d.frm.Height()
	if o.swaps() {
		w, h = h, w
	}
	if (w != s.info.SrcWidth || h != s.info.SrcHeight) && !s.sizeWarn {
		s.sizeWarn = true
		s.log.Warn("video: image size differs from the first image, scaling it to the working size",
			"src", s.info.Src, "file", name, "size", fmt.Sprintf("%dx%d", w, h),
			"working", fmt.Sprintf("%dx%d", s.info.Width, s.info.Height))
	}
	// Turned upright as its EXIF orientation says: converted at the
	// working size as stored, then turned.
	conv := s.conv
	if o.swaps() {
		if s.convT == nil {
			s.convT = newRGBConverter(s.info.Height, s.info.Width)
		}
		conv = s.convT
	}
	return s.convertTurned(d.frm, conv, o, s.takeBuffer())
}
