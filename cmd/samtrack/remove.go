package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"samtrack/config"
	"samtrack/inpaint"
	"samtrack/media"
	"samtrack/pipeline"
	"samtrack/tracker"
)

// remove writes a copy of INPUT with the chosen objects filled in: it
// tracks them first (the same prompts as track) or reads a finished run's
// masks (--masks DIR).
func (a *app) remove(ctx context.Context, args []string) error {
	fs, cfgFile := flagSet("remove")
	out := fs.String("out", "", "output video (MP4)")
	masksDir := fs.String("masks", "", "a finished tracking run's output directory (or its masks/) instead of tracking")
	ids := fs.String("ids", "", "object ids to remove, comma-separated (default: every object)")
	trackOut := fs.String("track-out", "", "where the tracking run writes its outputs (default: OUT without .mp4, plus .track)")
	resume := fs.Bool("resume", false, "continue an interrupted tracking run in the tracking folder, or reuse a finished one made with the same options")
	overwrite := fs.Bool("overwrite", false, "replace the tracking run already in the tracking folder")
	fs.Int("margin", 16, "dilate the masks by this many pixels")
	fs.Int("window", 30, "frames before and after each frame to take background from")
	fs.String("inpaint-method", "telea", "OpenCV synthesis of never-seen pixels: telea or ns")
	fs.String("inpaint-model", "", "LaMa ONNX file to synthesise never-seen pixels with instead of OpenCV")
	fs.Int("crf", 14, "H.264 quality of the output (libx264 CRF; lower is better)")
	jf := addJobFlags(fs)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.load(*cfgFile, jf.bind(fs, map[string]string{"remove.margin": "margin", "remove.window": "window",
		"remove.method": "inpaint-method", "remove.model": "inpaint-model", "remove.crf": "crf"}))
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("remove: want exactly one INPUT (video file or image directory), got %d", fs.NArg())
	}
	if *out == "" {
		return usageErr("remove: --out OUT.mp4 is required")
	}
	switch strings.ToLower(filepath.Ext(*out)) {
	case ".mp4", ".m4v", ".mov":
	default: // the file would be an MP4 under another format's name
		return usageErr("remove: --out %s: remove writes an MP4 (H.264, the input's audio copied); give a name ending in .mp4", *out)
	}
	want, err := parseIDs(*ids)
	if err != nil {
		return usageErr("remove: --ids: %v", err)
	}
	opts, err := removeOptions(c)
	if err != nil {
		return err
	}
	input := fs.Arg(0)
	dir := *masksDir
	if dir != "" && (*resume || *overwrite) {
		opts.Synth.Close()
		return usageErr("remove: --resume and --overwrite are about remove's own tracking run; with --masks nothing is tracked")
	}
	if dir == "" {
		if dir, err = a.trackForRemoval(ctx, pipeline.Spec{Input: input, Resume: *resume, Overwrite: *overwrite, Config: c}, *out, *trackOut, jf); err != nil {
			opts.Synth.Close()
			return err
		}
	}
	masks, err := inpaint.DirMasks(dir, want)
	if err != nil {
		opts.Synth.Close()
		return exitError{code: 2, err: err}
	}
	pr := newProgressPrinter(a.stderr)
	pr.noObjects = true
	start := time.Now()
	res, err := inpaint.Remove(ctx, inpaint.Spec{Input: input, Out: *out, Masks: masks, Opts: opts, CRF: c.Remove.CRF, Log: a.log,
		OnFrame: func(done, total int) {
			pg := pipeline.Progress{Frame: done - 1, Done: done, Total: total}
			pg.FPS, pg.ETA = pipeline.Rate(done, total, start)
			pr.update(pg, a)
		}})
	pr.done()
	if err != nil {
		if ctx.Err() != nil {
			return exitError{code: 130, err: fmt.Errorf("interrupted: %w", err)}
		}
		return inputExit(err)
	}
	a.log.Info("remove finished", "out", *out, "frames", res.Frames, "hole_pixels", res.Hole,
		"from_other_frames", res.Temporal, "carried", res.Carried, "synthesised", res.Synthesised,
		"synthesis", opts.Synth.Name(), "audio_packets", res.AudioPackets)
	return nil
}

// removeOptions turns the remove.* settings into the filler's options,
// opening the synthesiser (a LaMa model when remove.model is set).
func removeOptions(c config.Config) (inpaint.Options, error) {
	opts, err := inpaint.FromConfig(c.Remove, c.Runtime.ORTLibrary)
	if err != nil {
		return opts, exitError{code: 2, err: err}
	}
	return opts, nil
}

// trackForRemoval runs the tracking job whose masks the removal uses (spec
// gives its input, configuration, and whether it resumes or replaces an
// earlier run) and returns its output directory.
func (a *app) trackForRemoval(ctx context.Context, spec pipeline.Spec, out, trackOut string, jf *jobFlags) (string, error) {
	if trackOut == "" {
		trackOut = strings.TrimSuffix(out, ".mp4") + ".track"
	}
	spec.Out, spec.Everything = trackOut, *jf.everything
	var err error
	if spec.Prompts, err = jf.prompts("remove"); err != nil {
		return "", err
	}
	if len(spec.Prompts.Objects) == 0 && spec.Prompts.Mask == "" && !spec.Everything {
		return "", usageErr("remove: say what to remove: --mask, --prompts, --point, --box, --everything, or --masks DIR from a finished run")
	}
	// Every frame is needed, at full size; the overlay is not.
	spec.Config.Video.Stride, spec.Config.Video.MaxFrames, spec.Config.Video.Start = 1, 0, 0
	spec.Config.Track.Overlay = false
	pr := newProgressPrinter(a.stderr)
	sum, err := pipeline.Run(ctx, spec, pipeline.Hooks{Logger: a.log,
		OnFrame: func(p pipeline.Progress, _ media.Frame, _ *tracker.FrameResult) { pr.update(p, a) }})
	pr.done()
	if err != nil {
		if ctx.Err() != nil {
			return "", exitError{code: 130, err: fmt.Errorf("interrupted while tracking: %w", err)}
		}
		return "", inputExit(err)
	}
	a.log.Info("tracked the objects to remove", "out", sum.Out, "frames", sum.FramesDone, "objects", len(sum.Objects))
	return trackOut, nil
}

// parseIDs reads "1,3" into object ids.
func parseIDs(s string) ([]uint16, error) {
	var ids []uint16
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseUint(f, 10, 16)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("%q is not an object id (1-65535)", f)
		}
		ids = append(ids, uint16(v))
	}
	return ids, nil
}
