package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"samtrack/export"
	"samtrack/media"
	"samtrack/pipeline"
	"samtrack/tracker"
	"samtrack/video"
)

// Causes of a stopped run.
var (
	errCanceled = errors.New("canceled by request")
	errShutdown = errors.New("server shutting down")
)

// saveEvery is the longest a running job's progress goes unsaved (the
// outputs themselves are committed frame by frame by package export).
const saveEvery = time.Second

func (s *Server) jobDir(id string) string { return filepath.Join(s.opts.DataDir, "jobs", id) }
func (s *Server) outDir(id string) string { return filepath.Join(s.jobDir(id), "out") }

// load reads the job list and queues the unfinished jobs.
func (s *Server) load() error {
	recs, bad, err := s.store.All()
	if err != nil {
		return err
	}
	for _, e := range bad {
		s.log.Error("job database: skipping a record that does not decode", "err", e)
	}
	for _, r := range recs {
		j := newJob(r)
		s.jobs[r.ID] = j
		switch r.State {
		case StateRunning:
			// The server died while the job ran (a graceful shutdown
			// leaves it queued).
			r.Crashes++
			if r.Crashes > s.opts.MaxResumes {
				r.State, r.Error = StateFailed, fmt.Sprintf("the server stopped %d times while this job ran (crash or kill); not resuming it again; the finished frames are in the results", r.Crashes)
				now := time.Now().UTC()
				r.Finished = &now
			} else {
				r.State = StateQueued
				s.log.Info("job was interrupted by a server crash; queued to resume", "job", r.ID, "frames_done", r.FramesDone)
			}
			fallthrough
		case StateQueued:
			if !r.Live {
				if m, err := readManifest(s.outDir(r.ID)); err == nil {
					r.FramesDone, r.LastFrame = m.FramesDone, m.LastFrame
				}
			}
			if err := s.store.Put(r.ID, r); err != nil {
				return err
			}
			if r.State == StateQueued {
				if r.Live {
					s.live = append(s.live, j)
				} else {
					s.queue.Push(j)
				}
			}
		}
		j.events.Publish("state", stateEvent(r))
		j.events.Publish("progress", progressEvent(r))
	}
	if len(recs) > 0 {
		s.log.Info("job list loaded", "jobs", len(recs), "queued", s.queue.Len())
	}
	return nil
}

func readManifest(dir string) (export.Manifest, error) {
	var m export.Manifest
	b, err := os.ReadFile(filepath.Join(dir, export.ManifestFile))
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(b, &m)
	return m, err
}

// signal wakes a worker.
func (s *Server) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// submit persists and queues a new job; it answers 503 when the queue is
// full or the server is shutting down.
func (s *Server) submit(rec *jobRecord) *apiError {
	if s.closed.Load() {
		return errorf(http.StatusServiceUnavailable, "the server is shutting down; retry later")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.Live && s.liveRunning >= s.opts.MaxLive {
		return errorf(http.StatusServiceUnavailable, "%d live jobs run already, the most this server allows (--max-live); cancel one first", s.liveRunning)
	}
	if !rec.Live && s.queue.Len() >= s.opts.MaxQueue {
		return errorf(http.StatusServiceUnavailable, "the job queue is full (%d jobs waiting, %d running); retry later", s.queue.Len(), s.running)
	}
	rec.State = StateQueued
	rec.LastFrame = -1
	if err := s.store.Put(rec.ID, rec); err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	j := newJob(rec)
	s.jobs[rec.ID] = j
	j.events.Publish("state", stateEvent(rec))
	s.metrics.Submitted.Add(1)
	if rec.Live {
		if s.started {
			s.startLiveLocked(j)
		} else {
			s.live = append(s.live, j)
		}
		return nil
	}
	s.queue.Push(j)
	s.signal()
	return nil
}

// startLiveLocked runs a live job in its own goroutine (s.mu held).
func (s *Server) startLiveLocked(j *job) {
	if s.ctx.Err() != nil {
		return // shutting down: it restarts at the next start
	}
	s.liveRunning++
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		s.run(j)
		s.mu.Lock()
		s.liveRunning--
		s.mu.Unlock()
	}()
}

// worker runs queued jobs until the server stops.
func (s *Server) worker() {
	defer s.workers.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		}
		for {
			if s.ctx.Err() != nil {
				return
			}
			s.mu.Lock()
			j, ok := s.queue.Pop()
			if !ok {
				s.mu.Unlock()
				break
			}
			s.running++
			if s.queue.Len() > 0 {
				s.signal() // another worker may take the next one
			}
			s.mu.Unlock()
			s.run(j)
			s.mu.Lock()
			s.running--
			s.mu.Unlock()
		}
	}
}

// run runs one job through pipeline.Run.
func (s *Server) run(j *job) {
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
func (s *Server) startSpecLocked(j *job) (pipeline.Spec, error) {
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
	spec := pipeline.Spec{Input: rec.Source, Out: out, Prompts: rec.Prompts, Everything: rec.Everything,
		Resume: resume, Overwrite: true, Config: rec.Config, Live: rec.Live, HTTPProxy: s.guard.ProxyURL, // the job owns out
		Models: s.models}
	liveOpts, err := rec.LiveOpts.apply(s.opts.Live)
	spec.LiveOptions = liveOpts
	return spec, err
}

// finish records how a run ended: done, queued again (checkpointed at
// shutdown), canceled or failed with its public error.
func (s *Server) finish(j *job, sum pipeline.Summary, err, cause error) {
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
	case errors.Is(cause, errShutdown):
		// checkpointed: the manifest holds every finished frame
		rec.State, rec.Error = StateQueued, ""
	case errors.Is(cause, errCanceled):
		rec.State, rec.Error = StateCanceled, "canceled by request"
	default:
		rec.State, rec.Error = StateFailed, s.public.Error(err)
	}
	if rec.State.final() {
		rec.Finished = &now
	}
	j.cancel = nil
	close(j.done)
	if j.deleted {
		return
	}
	s.saveLocked(j)
	j.events.Publish("progress", progressEvent(rec))
	j.events.Publish("state", stateEvent(rec))
	s.log.Info("job ended", "job", rec.ID, "state", rec.State, "frames", rec.FramesDone, "err", rec.Error)
}

// saveLocked persists the record (j.mu held).
func (s *Server) saveLocked(j *job) {
	if j.deleted {
		return
	}
	j.lastSave = time.Now()
	if err := s.store.Put(j.rec.ID, j.rec); err != nil {
		s.log.Error("job database write failed", "job", j.rec.ID, "err", err)
	}
}

func (s *Server) onFrame(j *job, p pipeline.Progress, f media.Frame, res *tracker.FrameResult) {
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
	now := time.Now()
	switch {
	case j.fpsAt.IsZero():
		j.fpsAt, j.fpsDone = now, p.Done
		rec.FPS = p.FPS
	case now.Sub(j.fpsAt) >= time.Second:
		rec.FPS = float64(p.Done-j.fpsDone) / now.Sub(j.fpsAt).Seconds()
		j.fpsAt, j.fpsDone = now, p.Done
	}
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
	if now.Sub(j.lastSave) >= saveEvery {
		s.saveLocked(j)
	}
}

// pending hands the pipeline the prompts posted since it last asked.
func (s *Server) pending(j *job) []pipeline.ObjectPrompt {
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

func (s *Server) onLive(j *job, ev video.LiveEvent) {
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
func (s *Server) archiveLiveSession(rec *jobRecord) error {
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

func stateEvent(r *jobRecord) map[string]any {
	return map[string]any{"state": r.State, "error": r.Error, "frames_done": r.FramesDone}
}

func progressEvent(r *jobRecord) map[string]any {
	return map[string]any{"frame": r.LastFrame, "frames_done": r.FramesDone, "total": r.Total,
		"fps": round2(r.FPS), "objects": r.Present}
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// lookup returns a job or 404.
func (s *Server) lookup(id string) (*job, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return nil, errorf(http.StatusNotFound, "no job %q", id)
	}
	return j, nil
}

// cancelJob stops a queued or running job; it returns once the run has
// ended (or timeout passed).
func (s *Server) cancelJob(j *job, timeout time.Duration) *apiError {
	s.mu.Lock()
	s.queue.Remove(j)
	for i, q := range s.live {
		if q == j {
			s.live = append(s.live[:i], s.live[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	j.mu.Lock()
	switch {
	case j.cancel != nil:
		j.cancel(errCanceled)
		done := j.done
		j.mu.Unlock()
		select {
		case <-done:
		case <-time.After(timeout):
			return errorf(http.StatusInternalServerError, "the job did not stop within %v", timeout)
		}
		return nil
	case j.rec.State == StateQueued:
		now := time.Now().UTC()
		j.rec.State, j.rec.Error, j.rec.Finished = StateCanceled, "canceled by request", &now
		s.saveLocked(j)
		j.events.Publish("state", stateEvent(j.rec))
	}
	j.mu.Unlock()
	return nil
}

// deleteJob cancels a job, then removes its record, outputs and own upload.
func (s *Server) deleteJob(j *job) *apiError {
	if err := s.cancelJob(j, 30*time.Second); err != nil {
		return err
	}
	j.mu.Lock()
	j.deleted = true
	id, own := j.rec.ID, j.rec.OwnUpload
	j.mu.Unlock()
	j.events.Close()
	s.mu.Lock()
	delete(s.jobs, id)
	s.mu.Unlock()
	if err := s.store.Delete(id); err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	if err := os.RemoveAll(s.jobDir(id)); err != nil {
		s.log.Warn("delete job: outputs not removed", "job", id, "err", err)
	}
	if own != "" {
		if err := os.RemoveAll(filepath.Join(s.opts.DataDir, "uploads", own)); err != nil {
			s.log.Warn("delete job: upload not removed", "job", id, "err", err)
		}
	}
	s.log.Info("job deleted", "job", id)
	return nil
}

// addPrompts queues prompts for a queued or running job.
func (s *Server) addPrompts(j *job, ps []pipeline.ObjectPrompt) *apiError {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.rec.State.final() {
		return errorf(http.StatusConflict, "job %s is %s; prompts can only be added while it is queued or running", j.rec.ID, j.rec.State)
	}
	have := len(j.rec.Prompts.Objects) + len(j.rec.Prompted)
	if max := j.rec.Config.Track.MaxPrompts; have+len(ps) > max {
		return errorf(http.StatusBadRequest, "job %s has %d prompts; %d more is over the limit of %d per job (track.max_prompts)", j.rec.ID, have, len(ps), max)
	}
	now := time.Now().UTC()
	for _, p := range ps {
		j.rec.Prompted = append(j.rec.Prompted, livePrompt{Prompt: p, Added: now})
	}
	s.saveLocked(j)
	return nil
}

// queuePosition is the job's place in the queue (1 = next), 0 if not queued.
func (s *Server) queuePosition(j *job) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queue.Position(j)
}
