package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"math"

	"samtrack/config"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/video"
)

// Prompts, masks and outputs are in source pixels (the input's pictures,
// upright); the tracker works at the working size of video.max_side. These
// helpers carry prompts and masks from one to the other.

// sourceSize is the input's picture size, upright (the working size when
// the source does not say).
func sourceSize(info video.Info) (int, int) {
	if info.SrcWidth > 0 && info.SrcHeight > 0 {
		return info.SrcWidth, info.SrcHeight
	}
	return info.Width, info.Height
}

// toWorking checks a prompt against the source picture, clips a box that
// lies partly outside it (with a warning), and scales it to the working
// size. A point or a box wholly outside the picture is an error.
func toWorking(p media.Prompt, info video.Info, log *slog.Logger, what string) (media.Prompt, error) {
	sw, sh := sourceSize(info)
	if sw <= 0 || info.Width <= 0 {
		return p, nil // size unknown until the first frame (live)
	}
	fw, fh := float64(sw), float64(sh)
	finite := func(v ...float64) bool {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return false
			}
		}
		return true
	}
	kx, ky := float64(info.Width)/fw, float64(info.Height)/fh
	out := media.Prompt{MaskInput: p.MaskInput}
	for i, pt := range p.Points {
		if !finite(pt.X, pt.Y) || pt.X < 0 || pt.Y < 0 || pt.X > fw || pt.Y > fh {
			return p, media.PromptErrorf("%s: point %d at (%g, %g) is outside the %dx%d picture; give points in the input's pixels, x in [0,%d] and y in [0,%d]",
				what, i, pt.X, pt.Y, sw, sh, sw, sh)
		}
		out.Points = append(out.Points, media.Point{X: pt.X * kx, Y: pt.Y * ky, Label: pt.Label})
	}
	if b := p.Box; b != nil {
		if !finite(b.X0, b.Y0, b.X1, b.Y1) {
			return p, media.PromptErrorf("%s: box (%g, %g)-(%g, %g) has a coordinate that is not a number; give four numbers in the input's pixels", what, b.X0, b.Y0, b.X1, b.Y1)
		}
		if b.X1 <= b.X0 || b.Y1 <= b.Y0 {
			return p, media.PromptErrorf("%s: box (%g, %g)-(%g, %g) is empty; give the top-left corner first (x1 > x0 and y1 > y0)", what, b.X0, b.Y0, b.X1, b.Y1)
		}
		c := media.Box{X0: max(b.X0, 0), Y0: max(b.Y0, 0), X1: min(b.X1, fw), Y1: min(b.Y1, fh)}
		if c.X1 <= c.X0 || c.Y1 <= c.Y0 {
			return p, media.PromptErrorf("%s: box (%g, %g)-(%g, %g) lies wholly outside the %dx%d picture; give it in the input's pixels",
				what, b.X0, b.Y0, b.X1, b.Y1, sw, sh)
		}
		if c != *b {
			log.Warn("prompt box reaches outside the picture; clipped to it", "prompt", what,
				"box", []float64{b.X0, b.Y0, b.X1, b.Y1}, "clipped", []float64{c.X0, c.Y0, c.X1, c.Y1}, "picture", fmt.Sprintf("%dx%d", sw, sh))
		}
		out.Box = &media.Box{X0: c.X0 * kx, Y0: c.Y0 * ky, X1: c.X1 * kx, Y1: c.Y1 * ky}
	}
	return out, nil
}

// maskToWorking checks that a label map read from path has the source
// picture's size and brings it to the working size.
func maskToWorking(l *mask.LabelMap, path string, info video.Info) (*mask.LabelMap, error) {
	sw, sh := sourceSize(info)
	if sw <= 0 {
		return l, nil
	}
	if l.W != sw || l.H != sh {
		rot := ""
		if info.Rotation != 0 {
			rot = fmt.Sprintf(" (upright: the input is turned %d° as players show it)", info.Rotation)
		}
		return nil, media.PromptErrorf("mask %s is %dx%d but the input's pictures are %dx%d%s; give a mask of the input's size", path, l.W, l.H, sw, sh, rot)
	}
	if l.W == info.Width && l.H == info.Height {
		return l, nil
	}
	return l.Downsample(info.Width, info.Height)
}

// CheckPrompts checks prompts against an opened input's picture size, as
// Run does before the first frame: points and boxes wholly outside it, and
// masks of another size, are errors (a box partly outside is clipped when
// the job runs). The service calls it when a job is created.
func CheckPrompts(p Prompts, info video.Info) error {
	quiet := slog.New(slog.DiscardHandler)
	if p.Mask != "" {
		if _, err := readLabels(p.Mask, info); err != nil {
			return err
		}
	}
	for _, o := range p.Objects {
		if o.Mask != "" {
			if _, err := readLabels(o.Mask, info); err != nil {
				return err
			}
			continue
		}
		if _, err := toWorking(o.Prompt(), info, quiet, fmt.Sprintf("object %d on frame %d", o.ID, o.Frame)); err != nil {
			return err
		}
	}
	return nil
}

// ProbeInput opens a video file or image directory only to read its
// description (picture size, rotation, frame count) under c's video
// settings.
func ProbeInput(ctx context.Context, input string, c config.Config) (video.Info, error) {
	src, err := video.Open(ctx, input, VideoOptions(c, slog.New(slog.DiscardHandler)))
	if err != nil {
		return video.Info{}, err
	}
	defer src.Close()
	return src.Info(), nil
}
