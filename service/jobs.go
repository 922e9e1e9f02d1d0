package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"samtrack/export"
	"samtrack/pipeline"
)

// Causes of a stopped run.
var (
	errCanceled = errors.New("canceled by request")
	errShutdown = errors.New("server shutting down")
	errLost     = errors.New("this worker lost its hold on the job (its lease, or contact with NATS); another worker takes it over")
)

// saveEvery is the longest a running job's progress goes unsaved (the
// outputs themselves are committed frame by frame by package export).
const saveEvery = time.Second

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
		if s.opts.Cluster {
			continue // the workers own running jobs; startCluster queues the rest
		}
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
	if n := int(s.liveRunning.Load()); rec.Live && n >= s.opts.MaxLive {
		return errorf(http.StatusServiceUnavailable, "%d live jobs run already, the most this server allows (--max-live); cancel one first", n)
	}
	if !rec.Live && s.queue.Len() >= s.opts.MaxQueue {
		return errorf(http.StatusServiceUnavailable, "the job queue is full (%d jobs waiting, %d running); retry later", s.queue.Len(), s.running)
	}
	rec.State = StateQueued
	rec.LastFrame = -1
	if s.cluster == nil {
		if err := s.store.Put(rec.ID, rec); err != nil {
			return errorf(http.StatusInternalServerError, "%v", err)
		}
	}
	j := newJob(rec)
	if s.cluster != nil {
		if err := s.clusterSubmit(j); err != nil {
			return errorf(http.StatusServiceUnavailable, "cannot queue the job on the cluster: %v; retry later", err)
		}
	}
	s.jobs[rec.ID] = j
	j.events.Publish("state", stateEvent(rec))
	s.metrics.Submitted.Add(1)
	if s.cluster != nil {
		return nil
	}
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
	s.liveRunning.Add(1)
	release := sync.OnceFunc(func() { s.liveRunning.Add(-1) })
	// Set before the run starts: only the run reads it (a new or
	// restored live job has no earlier run still ending).
	j.release = release
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		defer release() // a run that never started
		s.run(j)
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

func stateEvent(r *jobRecord) map[string]any {
	return map[string]any{"state": r.State, "error": r.Error, "frames_done": r.FramesDone}
}

func progressEvent(r *jobRecord) map[string]any {
	return map[string]any{"frame": r.LastFrame, "frames_done": r.FramesDone, "total": r.Total,
		"fps": round2(r.FPS), "objects": r.Present}
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// known returns the job with id, or nil.
func (s *Server) known(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id]
}

// lookup returns a job or 404.
func (s *Server) lookup(id string) (*job, *apiError) {
	j := s.known(id)
	if j == nil {
		return nil, errorf(http.StatusNotFound, "no job %q", id)
	}
	return j, nil
}

// cancelJob stops a queued or running job; it returns once the run has
// ended (or timeout passed).
func (s *Server) cancelJob(j *job, timeout time.Duration) *apiError {
	if s.cluster != nil {
		return s.clusterCancel(j, timeout)
	}
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

// retry readies r to run again (retryJob): a file job (tracking or removal)
// that failed or was canceled is queued again, and its run resumes from
// the last frame its outputs hold; its crash count starts again.
func retry(r *jobRecord) *apiError {
	switch {
	case r.Live:
		return errorf(http.StatusConflict, "job %s is a live job: a camera's past frames cannot be tracked again; create a new job for the camera", r.ID)
	case r.State != StateFailed && r.State != StateCanceled:
		return errorf(http.StatusConflict, "job %s is %s; only a failed or canceled job can be retried", r.ID, r.State)
	}
	r.State, r.Error, r.Finished, r.Crashes = StateQueued, "", nil, 0
	r.Retries++
	return nil
}

// retryJob queues a failed or canceled file job again (POST .../retry).
func (s *Server) retryJob(j *job) *apiError {
	if s.closed.Load() {
		return errorf(http.StatusServiceUnavailable, "the server is shutting down; retry later")
	}
	if s.cluster != nil {
		return s.clusterRetry(j)
	}
	s.mu.Lock()
	full := s.queue.Len() >= s.opts.MaxQueue
	s.mu.Unlock()
	if full {
		return errorf(http.StatusServiceUnavailable, "the job queue is full; retry later")
	}
	j.mu.Lock()
	if j.deleted {
		j.mu.Unlock()
		return errorf(http.StatusNotFound, "no job %q", j.rec.ID)
	}
	if e := retry(j.rec); e != nil {
		j.mu.Unlock()
		return e
	}
	s.saveLocked(j)
	j.events.Publish("state", stateEvent(j.rec))
	id := j.rec.ID
	j.mu.Unlock()
	s.log.Info("job queued again", "job", id)
	s.mu.Lock()
	s.queue.Push(j)
	s.mu.Unlock()
	s.signal()
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
	if s.cluster != nil {
		return s.clusterPrompts(j, ps)
	}
	return s.runner.addPrompts(j, ps)
}

// queuePosition is the job's place in the queue (1 = next), 0 if not queued.
func (s *Server) queuePosition(j *job) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queue.Position(j)
}
