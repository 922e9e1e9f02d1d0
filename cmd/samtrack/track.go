package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"samtrack/pipeline"
	"samtrack/tracker"
	"samtrack/video"
)

func (a *app) track(ctx context.Context, args []string) error {
	fs, cfgFile := flagSet("track")
	out := fs.String("out", "", "output directory")
	maskFile := fs.String("mask", "", "label PNG of the first frame's objects (DAVIS palette or greyscale ids)")
	maskFrame := fs.Int("mask-frame", 0, "frame that --mask belongs to")
	promptsFile := fs.String("prompts", "", "prompts JSON file (see README)")
	points := fs.StringArray("point", nil, "click X,Y[,LABEL] on frame 0 for object 1; repeatable")
	box := fs.String("box", "", "box X0,Y0,X1,Y1 on frame 0 for object 1")
	everything := fs.Bool("everything", false, "take the first frame's objects from everything mode")
	resume := fs.Bool("resume", false, "continue an interrupted run in --out")
	fs.String("propagator", "builtin", "builtin (optical flow) or an exported DeAOT model directory")
	fs.Int("sam-gap", 10, "frames between everything-mode passes that find new objects")
	fs.String("sam-encoder", "", "SAM encoder ONNX file")
	fs.String("sam-decoder", "", "SAM decoder ONNX file")
	fs.String("model", "", "registered SAM model name")
	fs.Bool("refine", false, "SAM-Track two-pass refinement of prompts")
	fs.Int("max-frames", 0, "stop after N frames (0: all)")
	fs.Duration("start", 0, "start at this time")
	fs.Int("stride", 1, "use every Nth frame")
	fs.Int("max-side", 0, "cap the working resolution's longest side")
	fs.Bool("overlay", true, "write overlay.mp4")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	bind := samFlags(fs)
	for key, name := range map[string]string{
		"track.propagator": "propagator", "track.sam_gap": "sam-gap", "track.overlay": "overlay",
		"video.max_frames": "max-frames", "video.start": "start", "video.stride": "stride", "video.max_side": "max-side",
	} {
		bind[key] = fs.Lookup(name)
	}
	c, err := a.load(*cfgFile, bind)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("track: want exactly one INPUT (video file, image directory or URL), got %d", fs.NArg())
	}
	spec := pipeline.Spec{Input: fs.Arg(0), Out: *out, Everything: *everything, Resume: *resume, Config: c}
	if *promptsFile != "" {
		if spec.Prompts, err = pipeline.LoadPrompts(*promptsFile); err != nil {
			return exitError{code: 2, err: err}
		}
	}
	if *maskFile != "" {
		if spec.Prompts.Mask != "" {
			return usageErr("track: --mask and a prompts file with a mask: give one")
		}
		spec.Prompts.Mask, spec.Prompts.MaskFrame = *maskFile, *maskFrame
	}
	if len(*points) > 0 || *box != "" {
		p, err := parsePrompt(*points, *box)
		if err != nil {
			return usageErr("track: %v", err)
		}
		obj := pipeline.ObjectPrompt{ID: 1}
		for _, pt := range p.Points {
			obj.Points = append(obj.Points, []float64{pt.X, pt.Y, float64(pt.Label)})
		}
		if p.Box != nil {
			obj.Box = []float64{p.Box.X0, p.Box.Y0, p.Box.X1, p.Box.Y1}
		}
		spec.Prompts.Objects = append(spec.Prompts.Objects, obj)
	}

	pr := newProgressPrinter(a.stderr)
	sum, err := pipeline.Run(ctx, spec, pipeline.Hooks{
		Logger: a.log,
		OnFrame: func(p pipeline.Progress, _ video.Frame, res *tracker.FrameResult) {
			for _, e := range res.Events {
				switch {
				case e.Kind == tracker.EventWarning:
					pr.warn(fmt.Sprintf("warning: frame %d: object %d: %s", e.Frame, e.ID, e.Detail), a)
				case e.Kind != tracker.EventAppeared || p.Frame > 0:
					pr.event(fmt.Sprintf("frame %d: object %d %s", e.Frame, e.ID, e.Kind), a)
				}
			}
			pr.update(p, a)
		},
	})
	pr.done()
	if err != nil {
		if ctx.Err() != nil {
			return exitError{code: 130, err: fmt.Errorf("interrupted: %w", err)}
		}
		return err
	}
	a.log.Info("track finished", "out", sum.Out, "frames", sum.FramesDone, "objects", len(sum.Objects),
		"segmenter", sum.Segmenter, "seconds", sum.Elapsed.Seconds())
	return nil
}

// progressPrinter draws a one-line progress bar on a terminal and plain log
// lines otherwise.
type progressPrinter struct {
	w      io.Writer
	tty    bool
	last   time.Time
	active bool
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressPrinter{w: w, tty: tty}
}

func (p *progressPrinter) update(pg pipeline.Progress, a *app) {
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) < 100*time.Millisecond && (pg.Total == 0 || pg.Frame+1 < pg.Total) {
			return
		}
		p.last, p.active = now, true
		bar := ""
		if pg.Total > 0 {
			const width = 30
			n := min(width, width*(pg.Frame+1)/pg.Total)
			bar = "[" + repeat('#', n) + repeat('.', width-n) + "] "
			fmt.Fprintf(p.w, "\r%sframe %d/%d  %.1f fps  ETA %s  objects %d ", bar, pg.Frame+1, pg.Total, pg.FPS, pg.ETA.Round(time.Second), pg.Objects)
		} else {
			fmt.Fprintf(p.w, "\rframe %d  %.1f fps  objects %d ", pg.Frame+1, pg.FPS, pg.Objects)
		}
		return
	}
	if now.Sub(p.last) >= 2*time.Second {
		p.last = now
		a.log.Info("progress", "frame", pg.Frame, "total", pg.Total, "fps", fmt.Sprintf("%.1f", pg.FPS), "eta", pg.ETA.Round(time.Second), "objects", pg.Objects)
	}
}

func (p *progressPrinter) event(msg string, a *app) {
	if p.tty && p.active {
		fmt.Fprint(p.w, "\r\033[K")
	}
	a.log.Info(msg)
}

// warn is event at warning level.
func (p *progressPrinter) warn(msg string, a *app) {
	if p.tty && p.active {
		fmt.Fprint(p.w, "\r\033[K")
	}
	a.log.Warn(msg)
}

func (p *progressPrinter) done() {
	if p.tty && p.active {
		fmt.Fprintln(p.w)
	}
}

func repeat(c byte, n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
