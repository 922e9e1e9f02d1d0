package service

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"samtrack/internal/metrics"
	"samtrack/internal/netguard"
	"samtrack/internal/publictext"
	"samtrack/media"
	"samtrack/pipeline"
	"samtrack/tracker"
	"samtrack/video"
)

// runner runs jobs: it turns a job record into a pipeline.Run (or a
// removal), keeps the record and its events up to date while it runs and
// records how it ended. The Server runs jobs with it in one process; a
// Worker runs jobs a cluster's serve queued on NATS with the same code.
type runner struct {
	// ctx is cancelled at shutdown: it stops every run.
	ctx     context.Context
	log     *slog.Logger
	store   jobStore
	public  *publictext.Rewriter
	guard   *netguard.Guard
	models  *pipeline.ModelPool
	metrics *metrics.Registry
	dataDir string
	// live are the defaults of live jobs' sources.
	live video.LiveOptions
}

// newRunner makes a runner with opts' URL guard (its connections time out
// after timeout), public-text rules and a model pool sized for its jobs;
// its ctx is set by the caller.
func newRunner(opts Options, timeout time.Duration, store jobStore) (runner, error) {
	guard, err := netguard.New(opts.allowNets, timeout)
	if err != nil {
		return runner{}, err
	}
	return runner{
		log: opts.Logger, store: store, public: publictext.New(opts.DataDir, opts.AllowDirs, opts.allowNames),
		// the pool lends jobs their segmenter and propagator and keeps them open between
		// jobs (one ONNX Runtime session set per concurrent job, not per job)
		guard: guard, models: pipeline.NewModelPool(2 * (opts.MaxParallel + opts.MaxLive)), metrics: metrics.New(),
		dataDir: opts.DataDir, live: opts.Live,
	}, nil
}

// close releases the runner's model sessions and URL guard (not its store).
func (s *runner) close() error { return errors.Join(s.models.Close(), s.guard.Close()) }

func (s *runner) jobDir(id string) string { return filepath.Join(s.dataDir, "jobs", id) }

func (s *runner) outDir(id string) string { return filepath.Join(s.jobDir(id), "out") }

// run runs one job through pipeline.Run.
func (s *runner) run(j *job) {
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	j.mu.Lock()
	if j.deleted || j.rec.State != StateQueued {
		j.mu.Unlock()
		return
	}
	rec := j.rec
	started := time.Now().UTC()
	rec.State, rec.Error, rec.Started, rec.Finished = StateRunning, "", &started, nil
	j.cancel, j.done = cancel, make(chan struct{})
	j.fpsAt, j.fpsDone, j.floor = time.Time{}, 0, 0
	j.firstAt, j.lastAt, j.firstDone, j.lastDone = time.Time{}, time.Time{}, 0, 0
	spec, err := s.startSpecLocked(j)
	s.saveLocked(j)
	j.events.Publish("state", stateEvent(rec))
	j.mu.Unlock()
	s.log.Info("job started", "job", rec.ID, "input", rec.Input, "resume", spec.Resume, "live", rec.Live)

	var sum pipeline.Summary
	if err == nil && rec.Remove != nil {
		sum.FramesDone, err = s.runRemove(ctx, j, rec)
	} else if err == nil {
		sum, err = pipeline.Run(ctx, spec, pipeline.Hooks{
			Logger:  s.log.With("job", rec.ID),
			OnFrame: func(p pipeline.Progress, f media.Frame, res *tracker.FrameResult) { s.onFrame(j, p, f, res) },
			Pending: func() []pipeline.ObjectPrompt { return s.pending(j) },
			OnLive:  func(ev video.LiveEvent) { s.onLive(j, ev) },
		})
	}
	s.finish(j, sum, err, context.Cause(ctx))
}

// startSpecLocked prepares the record of a job about to run (a live job
// starts a new session; a file job with outputs resumes after its last
// finished frame) and returns what pipeline.Run is to do (j.mu held).
func (s *runner) startSpecLocked(j *job) (pipeline.Spec, error) {
	rec := j.rec
	out := s.outDir(rec.ID)
	resume := false
	if rec.Live {
		if err := s.archiveLiveSession(rec); err != nil {
			s.log.Warn("live job: cannot keep the previous session's outputs", "job", rec.ID, "err", err)
		}
		rec.Sessions++
		rec.FramesDone, rec.LastFrame, rec.Total, rec.FPS, rec.Present = 0, -1, 0, 0, 0
		rec.Latency, rec.MaxLatency, rec.Dropped = 0, 0, 0
		for i := range rec.Prompted {
			// a new session: every object prompted before is prompted again
			// on its first frame
			rec.Prompted[i].Delivered = false
			rec.Prompted[i].Prompt.Frame = 0
		}
	} else if m, err := readManifest(out); err == nil && rec.Remove == nil {
		resume = true
		j.floor = m.LastFrame + 1
		if !m.Complete {
			rec.Resumes++
		}
		for i := range rec.Prompted {
			// prompts the interrupted run took but did not reach go again
			if rec.Prompted[i].Delivered && rec.Prompted[i].Prompt.Frame > m.LastFrame {
				rec.Prompted[i].Delivered = false
			}
		}
	}
	prompts := rec.Prompts
	if rec.Live && j.resume != nil {
		prompts = *j.resume
		for i := range rec.Prompted {
			rec.Prompted[i].Delivered = true // in the checkpoint already
		}
	}
	spec := pipeline.Spec{Input: rec.Source, Out: out, Prompts: prompts, Everything: rec.Everything,
		Resume: resume, Overwrite: true, Config: rec.Config, Live: rec.Live, HTTPProxy: s.guard.ProxyURL, // the job owns out
		LockWait: outLockWait, Models: s.models}
	liveOpts, err := rec.LiveOpts.apply(s.live)
	spec.LiveOptions = liveOpts
	return spec, err
}

// outLockWait is how long a job's run waits for its output directory's
// lock: a job retried at once, or taken over from a worker that lost it,
// may find the run it replaces still closing its outputs.
const outLockWait = time.Minute

// finish records how a run ended: done, queued again (checkpointed at
// shutdown), canceled or failed with its public error.
func (s *runner) finish(j *job, sum pipeline.Summary, err, cause error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	rec := j.rec
	now := time.Now().UTC()
	switch {
	case err == nil:
		rec.State, rec.Error = StateDone, ""
		rec.FramesDone = sum.FramesDone
		if !rec.Live {
			rec.Total = sum.FramesDone
		}
		if sum.Objects != nil {
			rec.Objects = objectInfos(sum.Objects)
		}
	case errors.Is(cause, errLost):
		// another worker may hold the job by now: leave its record alone
		j.cancel = nil
		j.end()
		s.log.Warn("job stopped: this worker lost its hold on it", "job", rec.ID, "frames", rec.FramesDone)
		return
	case errors.Is(cause, errShutdown):
		// checkpointed: the manifest holds every finished frame
		rec.State, rec.Error = StateQueued, ""
	case errors.Is(cause, errCanceled):
		rec.State, rec.Error = StateCanceled, "canceled by request"
	default:
		rec.State, rec.Error = StateFailed, s.public.Error(err)
	}
	if err != nil && !rec.Live && rec.Remove == nil {
		// The last frame may have been committed without reaching
		// onFrame (the frame whose overlay could not be written): the
		// manifest says what the outputs hold.
		if m, merr := readManifest(s.outDir(rec.ID)); merr == nil {
			rec.FramesDone, rec.LastFrame = m.FramesDone, m.LastFrame
		}
	}
	if rec.State.final() {
		rec.Finished = &now
	}
	if el := j.lastAt.Sub(j.firstAt).Seconds(); el > 0 && j.lastDone > j.firstDone {
		// A run that ended reports its mean rate from its first frame to
		// its last: the one-second window would otherwise leave whatever
		// it last saw, for a short run the first frame's rate, which
		// includes opening the input and segmenting the prompts.
		rec.FPS = float64(j.lastDone-j.firstDone) / el
	}
	j.cancel = nil
	j.end()
	if j.deleted {
		return
	}
	s.saveLocked(j)
	j.events.Publish("progress", progressEvent(rec))
	j.events.Publish("state", stateEvent(rec))
	s.log.Info("job ended", "job", rec.ID, "state", rec.State, "frames", rec.FramesDone, "err", rec.Error)
}

// saveLocked persists the record (j.mu held).
func (s *runner) saveLocked(j *job) {
	if j.deleted || j.lost {
		return
	}
	j.lastSave = time.Now()
	if err := s.store.Put(j.rec.ID, j.rec); err != nil {
		s.log.Error("job database write failed", "job", j.rec.ID, "err", err)
	}
}

// noteRate updates the record's rate (j.mu held) once done frames are
// finished: over about the last second, starting from first, the run's own
// estimate for its first frame; and the first and last frames counted, for
// the mean rate an ended run reports. Frames a resumed run replays from its
// outputs cost nothing and are not counted.
func (j *job) noteRate(done int, first float64, replayed bool) {
	now := time.Now()
	if !replayed {
		if j.firstAt.IsZero() {
			j.firstAt, j.firstDone = now, done
		}
		j.lastAt, j.lastDone = now, done
	}
	switch {
	case j.fpsAt.IsZero():
		j.fpsAt, j.fpsDone = now, done
		j.rec.FPS = first
	case now.Sub(j.fpsAt) >= time.Second:
		j.rec.FPS = float64(done-j.fpsDone) / now.Sub(j.fpsAt).Seconds()
		j.fpsAt, j.fpsDone = now, done
	}
}

func (s *runner) onFrame(j *job, p pipeline.Progress, f media.Frame, res *tracker.FrameResult) {
	j.latest.Set(f, res)
	s.metrics.Frames.Add(1)
	j.mu.Lock()
	defer j.mu.Unlock()
	rec := j.rec
	rec.FramesDone, rec.Total, rec.LastFrame, rec.Present = p.Done, p.Total, p.Frame, p.Objects
	if rec.Live {
		rec.Latency, rec.Dropped = p.Latency, p.Dropped
		rec.MaxLatency = max(rec.MaxLatency, p.Latency)
	}
	if mf := rec.Config.Video.MaxFrames; mf > 0 && (rec.Total == 0 || rec.Total > mf) {
		rec.Total = mf
	}
	j.noteRate(p.Done, p.FPS, p.Replayed)
	if res.Table != nil {
		rec.Objects = objectInfos(res.Table)
	}
	for _, e := range res.Events {
		ev := map[string]any{"id": e.ID, "frame": e.Frame}
		if e.Detail != "" {
			ev["detail"] = e.Detail
		}
		j.events.Publish(string(e.Kind), ev)
	}
	j.events.Publish("progress", progressEvent(rec))
	if time.Since(j.lastSave) >= saveEvery || p.Done == j.floor+1 { // the first frame of a run at once: it shows the job tracks
		s.saveLocked(j)
	}
}

// pending hands the pipeline the prompts posted since it last asked.
func (s *runner) pending(j *job) []pipeline.ObjectPrompt {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []pipeline.ObjectPrompt
	for i := range j.rec.Prompted {
		lp := &j.rec.Prompted[i]
		if lp.Delivered {
			continue
		}
		lp.Prompt.Frame = max(lp.Prompt.Frame, j.rec.LastFrame+1, j.floor)
		lp.Delivered = true
		out = append(out, lp.Prompt)
	}
	if len(out) > 0 {
		s.saveLocked(j)
	}
	return out
}

func (s *runner) onLive(j *job, ev video.LiveEvent) {
	switch ev.Kind {
	case video.LiveConnected:
		j.events.Publish("connected", map[string]any{"width": ev.Info.Width, "height": ev.Info.Height, "fps": ev.Info.FPS})
	case video.LiveDisconnected:
		j.events.Publish("disconnected", map[string]any{"reason": ev.Gap.Reason, "last_frame": ev.Gap.LastIndexBefore, "time": ev.Time.UTC()})
	case video.LiveConnectFailed:
		msg := s.public.Error(ev.Err)
		j.events.Publish("connect_failed", map[string]any{"attempt": ev.Attempt, "retry_in_s": ev.Backoff.Seconds(), "error": msg})
	case video.LiveReconnected:
		s.metrics.Reconnects.Add(1)
		g := pipeline.NewGapRecord(ev.Gap)
		j.mu.Lock()
		j.rec.Reconnects++
		j.rec.Gaps = append(j.rec.Gaps, g)
		if len(j.rec.Gaps) > maxGapsKept {
			j.rec.Gaps = append(j.rec.Gaps[:0], j.rec.Gaps[len(j.rec.Gaps)-maxGapsKept:]...)
		}
		j.mu.Unlock()
		j.events.Publish("reconnected", map[string]any{"gap": g})
	case video.LiveEnded:
		msg := s.public.Error(ev.Err)
		j.events.Publish("ended", map[string]any{"error": msg})
	}
}

// archiveLiveSession moves a live job's previous session outputs aside
// (out → sessions/N) before it restarts.
func (s *runner) archiveLiveSession(rec *jobRecord) error {
	out := s.outDir(rec.ID)
	if _, err := os.Stat(out); err != nil {
		return nil
	}
	dst := filepath.Join(s.jobDir(rec.ID), "sessions", strconv.Itoa(rec.Sessions))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return os.Rename(out, dst)
}

// addPrompts queues prompts for a queued or running job.
func (s *runner) addPrompts(j *job, ps []pipeline.ObjectPrompt) *apiError {
	j.mu.Lock()
	defer j.mu.Unlock()
	if e := appendPrompts(j.rec, ps); e != nil {
		return e
	}
	s.saveLocked(j)
	return nil
}

// appendPrompts adds prompts to an unfinished job's record, within its
// prompt limit.
func appendPrompts(rec *jobRecord, ps []pipeline.ObjectPrompt) *apiError {
	if rec.State.final() {
		return errorf(http.StatusConflict, "job %s is %s; prompts can only be added while it is queued or running", rec.ID, rec.State)
	}
	have := len(rec.Prompts.Objects) + len(rec.Prompted)
	if max := rec.Config.Track.MaxPrompts; have+len(ps) > max {
		return errorf(http.StatusBadRequest, "job %s has %d prompts; %d more is over the limit of %d per job (track.max_prompts)", rec.ID, have, len(ps), max)
	}
	now := time.Now().UTC()
	for _, p := range ps {
		rec.Prompted = append(rec.Prompted, livePrompt{Prompt: p, Added: now})
	}
	return nil
}
