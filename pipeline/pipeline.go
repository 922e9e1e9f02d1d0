// Package pipeline runs one tracking job end to end: it opens the input,
// the SAM model (or the classical segmenter) and the propagator, applies the
// prompts, steps the tracker over every frame and hands each result to the
// crash-safe writers of package export; prompts on later frames are also
// tracked backwards to the start (backward.go) and merged frame by frame.
// `samtrack track` and the service both run jobs through it, so the two
// behave alike.
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"samtrack/config"
	"samtrack/export"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/tracker"
	"samtrack/video"
)

// Spec is one tracking job.
type Spec struct {
	// Input is a video file, an image directory or a URL.
	Input string
	// Out is the output directory.
	Out     string
	Prompts Prompts
	// Everything supplies the initial objects by everything mode on the
	// first frame (needs a SAM model).
	Everything bool
	// Resume continues an interrupted run in Out.
	Resume bool
	// Overwrite replaces an earlier run in Out; without it (and without
	// Resume) a directory holding a run is refused.
	Overwrite bool
	// LockWait is how long the run waits for another run writing Out to
	// end (0: it fails at once with export.ErrInUse).
	LockWait time.Duration
	Config   config.Config
	// Live reads Input with video.OpenLive: bounded latency (stale frames
	// are dropped) and reconnection with backoff when the stream drops,
	// with the gaps recorded in Out/gaps.json. It is implied for rtsp://,
	// rtsps://, rtmp://, rtmps://, srt:// and udp:// inputs (see IsLive).
	// A live run cannot be resumed; video.max_frames stops it after that
	// many frames, video.start and video.stride do not apply.
	Live bool
	// LiveOptions tune the live source; video.max_side, video.threads and
	// video.timeout fill the fields left zero.
	LiveOptions video.LiveOptions
	// HTTPProxy, when set, is the proxy FFmpeg fetches http(s) inputs
	// through: the service's address guard (see video.Options.HTTPProxy).
	HTTPProxy string
	// Models, when set, lends the job its models and keeps them open for
	// the next job; nil opens and closes them for this job alone.
	Models *ModelPool `json:"-"`
}

// Progress reports one finished frame.
type Progress struct {
	Frame    int           // index of the frame
	Done     int           // frames finished in this run, replayed ones included
	Total    int           // estimated frame count, 0 when unknown
	FPS      float64       // frames a second over the run so far
	ETA      time.Duration // 0 when unknown
	Objects  int           // objects present on the frame
	Replayed bool          // the frame was replayed by --resume
	// Latency (live sources) is how many decoded frames the stream's newest
	// frame is ahead of this one when it has been written; Dropped counts
	// the frames dropped unseen so far because tracking was slower than
	// the stream.
	Latency, Dropped int
}

// Hooks let a caller watch and steer a running job. Every field is
// optional.
type Hooks struct {
	Logger *slog.Logger
	// OnFrame is called after each frame is written.
	OnFrame func(p Progress, f media.Frame, res *tracker.FrameResult)
	// Pending is polled before each frame for prompts to add while the job
	// runs (the service's live prompts); a prompt for an earlier frame is
	// applied to the next frame.
	Pending func() []ObjectPrompt
	// OnLive is called for every connection event of a live source
	// (connected, disconnected, connect-failed, reconnected, ended), from
	// the source's reader goroutine; it must return quickly.
	OnLive func(video.LiveEvent)
}

// Summary describes a finished (or stopped) job.
type Summary struct {
	Out        string
	FramesDone int
	Complete   bool
	Resumed    bool
	Objects    []tracker.Object
	Stats      video.Stats
	Elapsed    time.Duration
	Segmenter  string
	// Live and Gaps describe a live source (zero for files): its counters
	// and its interruptions.
	Live video.LiveStats
	Gaps []video.Gap
}

// manifestOptions is what a resumed run must share with the interrupted one.
type manifestOptions struct {
	Config     config.Config `json:"config"`
	Prompts    Prompts       `json:"prompts"`
	Everything bool          `json:"everything"`
}

// Run executes spec. It returns a non-nil error when the job did not finish
// (cancelled, input ended early or corrupt, or a failure); the frames done
// so far are on disk and the manifest says the run is incomplete.
func Run(ctx context.Context, spec Spec, h Hooks) (sum Summary, err error) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	c := spec.Config
	sum.Out = spec.Out
	if err := checkSpec(spec); err != nil {
		return sum, err
	}
	src, err := openSource(ctx, spec, c, log, h)
	if err != nil {
		return sum, err
	}
	defer src.Close()
	info := src.Info()
	live, _ := src.(*liveSource)

	seg, releaseSeg, err := spec.Models.Segmenter(c)
	if err != nil {
		return sum, err
	}
	defer func() { err = errors.Join(err, releaseSeg()) }()
	sum.Segmenter = seg.Name
	opts, err := jobTrackerOptions(spec, seg.SAM, log)
	if err != nil {
		return sum, err
	}
	prop, releaseProp, err := spec.Models.Propagator(c)
	if err != nil {
		return sum, err
	}
	defer func() { err = errors.Join(err, releaseProp()) }()
	tr, bidi, err := newTracker(spec, opts, prop, seg, info, live != nil, log)
	if err != nil {
		return sum, err
	}
	run, err := openOutput(spec, info, live, log)
	if err != nil {
		return sum, err
	}
	defer func() { err = errors.Join(err, run.Close()) }()
	sum.Resumed = run.Resumed()
	if run.Complete() {
		log.Info("run already complete; nothing to resume", "out", spec.Out, "frames", run.FramesDone())
		sum.Complete, sum.FramesDone, sum.Objects = true, run.FramesDone(), run.Objects()
		return sum, nil
	}
	if err := tr.Resume(run.Journal(), run.LastFrame(), run.ReadMask); err != nil {
		return sum, fmt.Errorf("resume %s: %w", spec.Out, err)
	}
	j := &job{spec: spec, h: h, log: log, src: src, info: info, live: live, seg: seg, opts: opts,
		tr: tr, bidi: bidi, run: run, sum: &sum, last: -1, start: time.Now()}
	err = j.finish(j.loop(ctx))
	return sum, err
}

// checkSpec refuses a job that cannot start: no input, output or prompt,
// invalid prompts or settings, or more prompts than allowed.
func checkSpec(spec Spec) error {
	c := spec.Config
	if spec.Input == "" {
		return errors.New("no input: give a video file, an image directory or a URL")
	}
	if spec.Out == "" {
		return errors.New("no output directory: give --out DIR")
	}
	if spec.Prompts.Empty() && !spec.Everything {
		return errors.New("no prompt: give --mask, --prompts, --point, --box or --everything")
	}
	if err := spec.Prompts.Validate(); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return spec.Prompts.CheckLimits(c.Track.MaxPrompts, c.Track.MaxFramePrompts)
}

// jobTrackerOptions are the tracker's options for a job: the configured
// ones, without discovery when the segmenter is not SAM (sam false), and
// everything mode on the first frame for --everything.
func jobTrackerOptions(spec Spec, sam bool, log *slog.Logger) (tracker.Options, error) {
	opts := trackerOptions(spec.Config, log)
	if !sam {
		if spec.Everything {
			return opts, errors.New("--everything needs a SAM model: give --model NAME or --sam-encoder/--sam-decoder (see `samtrack models list`)")
		}
		if opts.Discover || opts.Refresh {
			log.Info("no SAM model configured: new-object discovery is off; prompts use the classical segmenter")
		}
		opts.Discover, opts.Refresh = false, false
	}
	opts.EverythingFirst = spec.Everything
	return opts, nil
}

// newTracker creates the job's tracker with its prompts, and plans the
// backward pass (nil when there is none).
func newTracker(spec Spec, opts tracker.Options, prop tracker.Propagator, seg tracker.Segmenter, info video.Info, live bool, log *slog.Logger) (*tracker.Tracker, *bidirectional, error) {
	tr, err := tracker.New(opts, prop, seg)
	if err != nil {
		return nil, nil, err
	}
	bidi, err := planDirection(spec, info, live, log)
	if err != nil {
		return nil, nil, err
	}
	prompts := spec.Prompts
	if bidi != nil {
		prompts = bidi.prompts
		tr.ReserveIDs(bidi.maxID)
		tr.SetGuide(bidi)
	}
	if err := applyPrompts(tr, prompts, info, log); err != nil {
		return nil, nil, err
	}
	return tr, bidi, nil
}

// openOutput opens (or, with spec.Resume, reopens) the job's output
// directory.
func openOutput(spec Spec, info video.Info, live *liveSource, log *slog.Logger) (*export.Run, error) {
	c := spec.Config
	input := spec.Input
	if live != nil {
		input = live.URL() // without a password
	}
	return export.OpenRun(spec.Out, export.Meta{
		Input:          input,
		Options:        manifestOptions{Config: c, Prompts: spec.Prompts, Everything: spec.Everything},
		ExpectedFrames: cmp.Or(info.Planned, info.Frames),
		Overlay:        c.Track.Overlay,
		Encoder:        overlayEncoder,
		Width:          info.SrcWidth,
		Height:         info.SrcHeight,
		Rotation:       info.Rotation,
		FPS:            info.FPS,
		Logger:         log,
		Overwrite:      spec.Overwrite,
		LockWait:       spec.LockWait,
	}, spec.Resume)
}

// job is one run's frame loop and its end, once everything is open.
type job struct {
	spec  Spec
	h     Hooks
	log   *slog.Logger
	src   source
	info  video.Info
	live  *liveSource
	seg   tracker.Segmenter
	opts  tracker.Options
	tr    *tracker.Tracker
	bidi  *bidirectional
	run   *export.Run
	sum   *Summary
	last  int // index of the last frame stepped
	start time.Time
}

// loop runs the backward pass, if any, then steps and writes every frame
// of the source until it ends (or the live frame budget is spent).
func (j *job) loop(ctx context.Context) error {
	if j.bidi != nil {
		if err := j.bidi.runBackward(ctx, j.spec, j.seg, j.opts, j.log); err != nil {
			return err
		}
	}
	frames := &readAhead{src: j.src}
	for {
		if j.live != nil && j.spec.Config.Video.MaxFrames > 0 && j.sum.FramesDone >= j.spec.Config.Video.MaxFrames {
			return nil
		}
		j.applyPending()
		f, err := frames.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if j.bidi != nil && j.bidi.direction == DirectionBackward && f.Index > j.bidi.last {
			return nil // backwards only: nothing is tracked after the last prompt
		}
		// A prompt on this frame may use the motion to the next one (the
		// classical segmenter does). Not on a live stream, where reading
		// ahead would hold this frame back by one.
		var next *media.Image
		if j.live == nil && j.tr.PromptsAt(f.Index) {
			next = frames.Peek(ctx)
		}
		if err := j.step(ctx, f, next); err != nil {
			return err
		}
	}
}

// readAhead delivers a source's frames in order and can read the next one
// early (Peek), for a prompt that uses the motion to it.
type readAhead struct {
	src interface {
		Next(context.Context) (media.Frame, error)
	}
	ahead *media.Frame
	err   error // what reading ahead met, for the next call of Next
}

// Next returns the frame read ahead, if any, else the source's next.
func (r *readAhead) Next(ctx context.Context) (media.Frame, error) {
	switch {
	case r.ahead != nil:
		f := *r.ahead
		r.ahead = nil
		return f, nil
	case r.err != nil:
		err := r.err
		r.err = nil
		return media.Frame{}, err
	}
	return r.src.Next(ctx)
}

// Peek reads the next frame now and returns its picture; nil at the end
// or on an error, which the next call of Next returns, so the frame in
// hand is still stepped first.
func (r *readAhead) Peek(ctx context.Context) *media.Image {
	if r.ahead == nil && r.err == nil {
		f, err := r.src.Next(ctx)
		if err != nil {
			r.err = err
			return nil
		}
		r.ahead = &f
	}
	if r.ahead == nil {
		return nil
	}
	return &r.ahead.Image
}

// applyPending hands the tracker the prompts that arrived while running.
// A prompt for a frame already passed goes to the next one (frame indices
// may skip: stride, dropped live frames).
func (j *job) applyPending() {
	if j.h.Pending == nil {
		return
	}
	for _, p := range j.h.Pending() {
		if err := applyObject(j.tr, p, j.last+1, j.info, j.log); err != nil {
			j.log.Warn("live prompt refused", "err", err)
		}
	}
}

// step tracks frame f, writes its outputs and reports progress.
func (j *job) step(ctx context.Context, f media.Frame, next *media.Image) error {
	res, err := j.tr.StepNext(ctx, f, next)
	if err != nil {
		return err
	}
	j.last = f.Index
	if err := j.run.WriteFrame(f, res); err != nil {
		return err
	}
	j.sum.FramesDone++
	if j.live != nil {
		if err := j.live.writeGaps(j.spec.Out, false); err != nil {
			return err
		}
	}
	if j.h.OnFrame != nil {
		p := progress(j.sum.FramesDone, f.Index, cmp.Or(j.info.Planned, j.info.Frames), j.start, len(res.Objects), res.Replayed)
		if j.live != nil {
			p.Latency, p.Dropped = j.live.Latency(), j.live.Live.Stats().Dropped
		}
		j.h.OnFrame(p, f, res)
	}
	return nil
}

// finish records how the loop ended (loopErr) in the summary and the
// manifest, and returns the job's error.
func (j *job) finish(loopErr error) error {
	spec, sum, run := j.spec, j.sum, j.run
	st := j.src.Stats()
	sum.Stats, sum.Elapsed = st, time.Since(j.start)
	if j.live != nil {
		sum.Live, sum.Gaps = j.live.Live.Stats(), j.live.Gaps()
		if err := j.live.writeGaps(spec.Out, true); err != nil && loopErr == nil {
			loopErr = err
		}
	}
	if st.CorruptPackets > 0 || st.CorruptFrames > 0 {
		j.log.Warn("input is damaged: corrupt data was skipped, so frames that could not be decoded have no masks",
			"input", spec.Input, "corrupt_packets", st.CorruptPackets, "corrupt_frames", st.CorruptFrames)
	}
	if loopErr == nil && st.Truncated {
		loopErr = fmt.Errorf("%s ended early: %w", spec.Input, video.ErrTruncated)
	}
	loopErr = stopped(loopErr, run.FramesDone(), spec.Out, j.live != nil)
	if loopErr == nil && j.live == nil {
		// Not "--resume continues it": resuming cannot help.
		loopErr = spec.Prompts.pastEnd(j.last, spec.Config.Video.MaxFrames > 0)
	}
	counts := export.Counts{CorruptFrames: st.CorruptFrames, CorruptPackets: st.CorruptPackets, TruncatedInput: st.Truncated}
	if err := run.Finish(loopErr, counts); err != nil {
		return errors.Join(loopErr, err)
	}
	if j.bidi != nil && loopErr == nil {
		if err := os.RemoveAll(j.bidi.spill); err != nil {
			j.log.Warn("could not remove the backward pass's labels", "dir", j.bidi.spill, "err", err)
		}
	}
	sum.FramesDone = run.FramesDone()
	sum.Complete = loopErr == nil
	sum.Objects = j.tr.Objects()
	if loopErr == nil && len(sum.Objects) == 0 {
		j.noObjectWarning()
	}
	return loopErr
}

// noObjectWarning says why a finished run tracked nothing, and what to
// change: its outputs are valid but empty, which a user would otherwise
// find out only by opening them.
func (j *job) noObjectWarning() {
	if j.spec.Everything {
		j.log.Warn("the run tracked no object: " + j.spec.Config.Everything.NothingFound())
		return
	}
	j.log.Warn("the run tracked no object; check the prompts (and their warnings above) or give a mask")
}

// stopped explains an error that ended a run after done frames: what is
// kept and how to continue, when there is something to continue (a live
// stream's frames cannot be replayed, so a live run is not resumed).
func stopped(err error, done int, out string, live bool) error {
	if err == nil {
		return nil
	}
	if done == 0 {
		return fmt.Errorf("failed before the first frame was written: %w", err)
	}
	frames := "frames"
	if done == 1 {
		frames = "frame"
	}
	if live {
		return fmt.Errorf("stopped after %d %s (%s keeps every finished frame): %w", done, frames, out, err)
	}
	return fmt.Errorf("stopped after %d %s (%s keeps every finished frame; the manifest marks the run incomplete, and --resume continues it): %w",
		done, frames, out, err)
}

// progress reports frame; total is the number of frames the run will
// process (0: unknown). The ETA stays unknown (0) until two frames are
// done: the first one's time includes setting up and prompts.
func progress(done, frame, total int, start time.Time, objects int, replayed bool) Progress {
	p := Progress{Frame: frame, Done: done, Total: total, Objects: objects, Replayed: replayed}
	p.FPS, p.ETA = Rate(done, total, start)
	return p
}

// Rate is the mean rate of done frames since start and, from the second
// frame on and when total (the frames the work will take, 0: unknown) is
// known, the time left at that rate (0: unknown). Work other than
// tracking, such as a removal, reports its progress with it.
func Rate(done, total int, start time.Time) (fps float64, eta time.Duration) {
	if el := time.Since(start).Seconds(); el > 0 {
		fps = float64(done) / el
	}
	if total > 0 && fps > 0 && total > done && done >= 2 {
		eta = time.Duration(float64(total-done) / fps * float64(time.Second))
	}
	return fps, eta
}

// applyPrompts queues the job's prompts on the tracker, checking them
// against the input's picture size first (prompts and masks are in source
// pixels).
func applyPrompts(tr *tracker.Tracker, p Prompts, info video.Info, log *slog.Logger) error {
	if p.Mask != "" {
		l, err := readLabels(p.Mask, info)
		if err != nil {
			return err
		}
		if err := tr.AddMask(p.MaskFrame, l); err != nil {
			return fmt.Errorf("mask %s: %w", p.Mask, err)
		}
	}
	for _, o := range p.Objects {
		if err := applyObject(tr, o, o.Frame, info, log); err != nil {
			return err
		}
	}
	return nil
}

func applyObject(tr *tracker.Tracker, o ObjectPrompt, frame int, info video.Info, log *slog.Logger) error {
	if o.Frame > frame {
		frame = o.Frame
	}
	if o.Mask != "" {
		l, err := readLabels(o.Mask, info)
		if err != nil {
			return err
		}
		id := uint16(o.ID)
		if id == 0 {
			id = uint16(tr.NextID())
		}
		obj := mask.NewLabelMap(l.W, l.H)
		for i, v := range l.Pix {
			if v != 0 {
				obj.Pix[i] = id
			}
		}
		if err := tr.AddMask(frame, obj); err != nil {
			return fmt.Errorf("object %d mask %s: %w", o.ID, o.Mask, err)
		}
		return nil
	}
	what := fmt.Sprintf("object %d on frame %d", o.ID, frame)
	p, err := toWorking(o.Prompt(), info, log, what)
	if err != nil {
		return err
	}
	if err := tr.AddPrompt(frame, uint16(o.ID), p); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func readLabels(path string, info video.Info) (*mask.LabelMap, error) {
	l, lf, err := mask.DecodeLabelPNGFile(path)
	if err != nil {
		return nil, media.PromptErrorf("read mask %s: %w", path, err)
	}
	binaryToObject1(l, lf)
	return maskToWorking(l, path, info)
}

// binaryToObject1 makes a black-and-white mask object 1: an 8-bit greyscale
// PNG holding only 0 and 255 is one object, not object 255 (samtrack
// segment writes such masks, as do most tools, and DAVIS 2016 stores its
// annotations so). Palette PNGs keep their ids, and so does a greyscale map
// with any other value.
func binaryToObject1(l *mask.LabelMap, lf mask.LabelFormat) {
	if lf.Paletted || lf.BitDepth != 8 {
		return
	}
	white := false
	for _, v := range l.Pix {
		switch v {
		case 0:
		case 255:
			white = true
		default:
			return
		}
	}
	if !white {
		return
	}
	for i, v := range l.Pix {
		if v == 255 {
			l.Pix[i] = 1
		}
	}
}

// VideoOptions are the decoding options of configuration c.
func VideoOptions(c config.Config, log *slog.Logger) video.Options {
	return video.Options{Start: c.Video.Start, MaxFrames: c.Video.MaxFrames, Stride: c.Video.Stride,
		MaxSide: c.Video.MaxSide, Threads: c.Video.Threads, Timeout: c.Video.Timeout, Logger: log,
		MaxPixels: c.Video.MaxPixels}
}

// LiveOptions are the live-stream options of configuration c (video.start,
// video.stride and video.max_frames do not apply to a live stream).
func LiveOptions(c config.Config, log *slog.Logger) video.LiveOptions {
	return video.LiveOptions{MaxSide: c.Video.MaxSide, Threads: c.Video.Threads, Timeout: c.Video.Timeout,
		Logger: log, MaxPixels: c.Video.MaxPixels}
}

// FrameOptions are the decoding options of configuration c for reading a
// frame to prompt on: at the input's own size, since prompts and masks are
// in the input's pixels (video.max_side only sets the size a job tracks at).
func FrameOptions(c config.Config, log *slog.Logger) video.Options {
	o := VideoOptions(c, log)
	o.MaxSide = 0
	return o
}

func trackerOptions(c config.Config, log *slog.Logger) tracker.Options {
	o := c.TrackerOptions()
	o.Logger = log
	return o
}

// overlayEncoder is export's overlay encoder: video's H.264 writer.
func overlayEncoder(path string, w, h, outW, outH int, fps float64) (export.FrameEncoder, error) {
	wr, err := video.NewScaledWriter(path, w, h, outW, outH, fps)
	if err != nil {
		return nil, err
	}
	return wr, nil
}
