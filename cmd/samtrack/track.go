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
	jf := addJobFlags(fs)
	resume := fs.Bool("resume", false, "continue an interrupted run in --out")
	fs.Int("max-frames", 0, "stop after N frames (0: all)")
	fs.Duration("start", 0, "start at this time")
	fs.Int("stride", 1, "use every Nth frame")
	fs.Int("max-side", 0, "cap the working resolution's longest side")
	fs.Bool("overlay", true, "write overlay.mp4")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.load(*cfgFile, jf.bind(fs, map[string]string{
		"track.overlay": "overlay", "video.max_frames": "max-frames", "video.start": "start",
		"video.stride": "stride", "video.max_side": "max-side",
	}))
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("track: want exactly one INPUT (video file, image directory or URL), got %d", fs.NArg())
	}
	spec := pipeline.Spec{Input: fs.Arg(0), Out: *out, Everything: *jf.everything, Resume: *resume, Config: c}
	if spec.Prompts, err = jf.prompts("track"); err != nil {
		return err
	}

	pr := newProgressPrinter(a.stderr)
	sum, err := pipeline.Run(ctx, spec, pipeline.Hooks{
		Logger: a.log,
		OnFrame: func(p pipeline.Progress, _ video.Frame, res *tracker.FrameResult) {
			for _, e := range res.Events {
				if e.Kind != tracker.EventAppeared || p.Frame > 0 {
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
