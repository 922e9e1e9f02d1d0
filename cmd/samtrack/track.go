package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"samtrack/config"
	"samtrack/media"
	"samtrack/pipeline"
	"samtrack/tracker"
	"samtrack/video"
)

func (a *app) track(ctx context.Context, args []string) error {
	fs, cfgFile := flagSet("track")
	out := fs.String("out", "", "output directory")
	jf := addJobFlags(fs)
	resume := fs.Bool("resume", false, "continue an interrupted run in --out")
	overwrite := fs.Bool("overwrite", false, "replace the run already in --out")
	live := fs.Bool("live", false, "read INPUT as a live camera (newest frames, reconnects, no end): for an http(s) stream such as MJPEG; rtsp, rtmp, srt and udp URLs always are")
	fs.Int("max-frames", 0, "stop after N frames (0: all)")
	fs.Duration("start", 0, "start at this time")
	fs.Int("stride", 1, "use every Nth frame")
	fs.Int("max-side", config.DefaultMaxSide, "longest side the tracker works at (0: the input's size); prompts and outputs stay in the input's pixels")
	fs.Bool("overlay", true, "write overlay.mp4")
	fs.String("direction", "auto", "forward, backward or both from each prompt's frame (auto: both when a prompt is past frame 0)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.load(*cfgFile, jf.bind(fs, map[string]string{
		"track.overlay": "overlay", "track.direction": "direction", "video.max_frames": "max-frames",
		"video.start": "start", "video.stride": "stride", "video.max_side": "max-side",
	}))
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("track: want exactly one INPUT (video file, image directory or URL), got %d", fs.NArg())
	}
	if *live && !video.IsStreamURL(fs.Arg(0)) {
		return usageErr("track: --live reads a stream URL (http://, https://, rtsp://, ...), not the file or folder %s", fs.Arg(0))
	}
	spec := pipeline.Spec{Input: fs.Arg(0), Out: *out, Everything: *jf.everything, Resume: *resume, Overwrite: *overwrite, Live: *live, Config: c}
	if spec.Prompts, err = jf.prompts("track"); err != nil {
		return err
	}

	pr := newProgressPrinter(a.stderr)
	sum, err := pipeline.Run(ctx, spec, pipeline.Hooks{
		Logger: a.log,
		OnFrame: func(p pipeline.Progress, _ media.Frame, res *tracker.FrameResult) {
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
		return inputExit(err)
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
	// noObjects leaves the object count out, for work that tracks none.
	noObjects bool
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
		if now.Sub(p.last) < 100*time.Millisecond && (pg.Total == 0 || pg.Done < pg.Total) {
			return
		}
		p.last, p.active = now, true
		bar := ""
		if pg.Total > 0 {
			const width = 30
			n := min(width, width*pg.Done/pg.Total)
			bar = "[" + repeat('#', n) + repeat('.', width-n) + "] "
			fmt.Fprintf(p.w, "\r%s%d/%d frames (frame %d)  %.1f fps  ETA %s%s ", bar, pg.Done, pg.Total, pg.Frame, pg.FPS, eta(pg), p.objects(pg))
		} else {
			fmt.Fprintf(p.w, "\r%d frames (frame %d)  %.1f fps%s ", pg.Done, pg.Frame, pg.FPS, p.objects(pg))
		}
		return
	}
	if now.Sub(p.last) >= 2*time.Second {
		p.last = now
		args := []any{"frame", pg.Frame, "done", pg.Done, "total", pg.Total, "fps", fmt.Sprintf("%.1f", pg.FPS), "eta", eta(pg)}
		if !p.noObjects {
			args = append(args, "objects", pg.Objects)
		}
		a.log.Info("progress", args...)
	}
}

func (p *progressPrinter) objects(pg pipeline.Progress) string {
	if p.noObjects {
		return ""
	}
	return fmt.Sprintf("  objects %d", pg.Objects)
}

// eta shows the time left, or "unknown" until the pipeline has an estimate.
func eta(pg pipeline.Progress) string {
	if pg.Total > 0 && pg.Done >= pg.Total {
		return "0s" // the last frame
	}
	if pg.ETA <= 0 {
		return "unknown"
	}
	return pg.ETA.Round(time.Second).String()
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
