package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"time"

	"samtrack/internal/jobstore"
	"samtrack/internal/metrics"
	"samtrack/internal/natsbus"
	"samtrack/pipeline"
)

// cluster is serve's side of a cluster (Options.Cluster): file jobs go to
// the JetStream work queue and live jobs wait for a worker's lease instead
// of running in this process; the job list follows the bucket, where the
// workers write their jobs' progress; the workers' events and frames are
// relayed to this server's SSE and MJPEG clients; cancel and prompts for a
// running job are requests to the worker that runs it. serve's own local
// worker, when it has one, is a Worker like any other.
type cluster struct {
	conn  *natsbus.Conn
	kv    *jobstore.KV[jobRecord]
	queue *natsbus.Queue
	local *Worker // nil with Options.NoLocalWorker
	stops []func()
}

// startCluster connects serve to the cluster's queue, bucket and subjects
// (s.mu not held; before Start).
func (s *Server) startCluster(conn *natsbus.Conn, kv *jobstore.KV[jobRecord]) (err error) {
	c := &cluster{conn: conn, kv: kv}
	defer func() {
		if err != nil {
			c.close() // the bucket's watch ends with s.ctx, which New cancels
		}
	}()
	if c.queue, err = conn.JobQueue(s.ctx, natsbus.QueueOptions{AckWait: s.opts.ClusterOptions.AckWait, MaxDeliver: unboundedDeliveries}); err != nil {
		return err
	}
	unsubEvents, err := conn.SubscribeEvents(s.relayEvent)
	if err != nil {
		return err
	}
	c.stops = append(c.stops, unsubEvents)
	unsubFrames, err := conn.SubscribeFrames(s.relayFrame)
	if err != nil {
		return err
	}
	c.stops = append(c.stops, unsubFrames)
	if err := kv.Watch(s.ctx, s.follow); err != nil {
		return err
	}
	if !s.opts.NoLocalWorker {
		host, _ := os.Hostname()
		r := s.runner
		r.metrics = metrics.New() // serve counts every worker's frames from the relayed events
		if c.local, err = newWorker(WorkerOptions{
			Name: fmt.Sprintf("serve-%s-%d", host, os.Getpid()), MaxJobs: s.opts.MaxParallel, MaxLive: s.opts.MaxLive,
			Cluster: s.opts.ClusterOptions, MaxResumes: s.opts.MaxResumes, Logger: s.log,
		}, r, conn, kv); err != nil {
			return err
		}
	}
	s.cluster = c
	return nil
}

// relayEvent passes a worker's job event to the job's SSE clients, and
// counts its frames and reconnections in serve's metrics.
func (s *Server) relayEvent(id, name string, data []byte) {
	j := s.known(id)
	if j == nil || name == "" {
		return
	}
	j.events.Publish(name, json.RawMessage(data))
	switch name {
	case "progress":
		var p struct {
			Done int `json:"frames_done"`
		}
		if json.Unmarshal(data, &p) != nil {
			return
		}
		j.mu.Lock()
		if p.Done > j.relayed {
			s.metrics.Frames.Add(int64(p.Done - j.relayed))
		}
		j.relayed = p.Done // a new session (or resumed run) counts from here
		j.mu.Unlock()
	case "reconnected":
		s.metrics.Reconnects.Add(1)
	}
}

// relayFrame passes a worker's overlay frame to the job's MJPEG clients.
func (s *Server) relayFrame(id string, index int, jpeg []byte) {
	if j := s.known(id); j != nil {
		j.latest.SetJPEG(index, jpeg)
	}
}

// follow takes a record a worker (or this server) wrote into the job list.
func (s *Server) follow(id string, rec *jobRecord) {
	j := s.known(id)
	if j == nil || rec == nil {
		return // deleted, or not one of this server's jobs
	}
	j.mu.Lock()
	if !j.deleted {
		j.rec = rec
	}
	queued := rec.State == StateQueued
	j.mu.Unlock()
	if !queued {
		s.mu.Lock()
		s.queue.Remove(j)
		s.mu.Unlock()
	}
}

// clusterSubmit queues a new job on the cluster (s.mu held): its record
// first, then, for a file job, its message on the work queue.
func (s *Server) clusterSubmit(j *job) error {
	rec := j.rec
	if err := s.store.Put(rec.ID, rec); err != nil {
		return err
	}
	if rec.Live {
		return nil // a worker's keeper takes it within a lease round
	}
	if err := s.cluster.queue.Submit(s.ctx, rec.ID, nil); err != nil {
		_ = s.store.Delete(rec.ID)
		return err
	}
	s.queue.Push(j)
	return nil
}

// clusterLoad queues the unfinished file jobs again (the queue ignores a
// job id it holds already): a server that stopped between writing a job's
// record and queueing it loses nothing. Running jobs belong to their
// workers, and the queue gives a dead worker's job to another.
func (s *Server) clusterLoad() {
	ids := slices.Sorted(maps.Keys(s.jobs)) // ids sort by creation time
	for _, id := range ids {
		j := s.jobs[id]
		rec := j.rec
		if rec.Live || rec.State != StateQueued {
			continue
		}
		var err error
		if rec.Retries > 0 { // the job id's own message was used up by its first run
			err = s.cluster.queue.SubmitAgain(s.ctx, rec.ID, rec.Retries, nil)
		} else {
			err = s.cluster.queue.Submit(s.ctx, rec.ID, nil)
		}
		if err != nil {
			s.log.Error("cannot queue an unfinished job on the cluster", "job", rec.ID, "err", err)
			continue
		}
		s.queue.Push(j)
	}
}

// errRunning says a record is no longer queued: its worker must be asked.
var errRunning = errors.New("the job runs on a worker")

// clusterEditQueued changes a queued job's record in the bucket, unless a
// worker took it meanwhile (errRunning). An error from change is returned
// with nothing written.
func (s *Server) clusterEditQueued(j *job, change func(*jobRecord) error) error {
	rec, err := s.cluster.kv.Modify(j.snapshot().ID, func(r *jobRecord) error {
		if r.State == StateRunning {
			return errRunning
		}
		return change(r)
	})
	if err == nil {
		j.mu.Lock()
		if !j.deleted {
			j.rec = rec
		}
		j.mu.Unlock()
	}
	return err
}

// clusterRetry queues an ended job again on the cluster: its record first,
// then a numbered retry message on the work queue (SubmitAgain: the job id
// alone would be dropped as a duplicate within the queue's window). If the
// message cannot be sent, the record goes back to how it ended.
func (s *Server) clusterRetry(j *job) *apiError {
	id := j.snapshot().ID
	var before jobRecord
	rec, err := s.cluster.kv.Modify(id, func(r *jobRecord) error {
		before = *r
		if e := retry(r); e != nil {
			return e
		}
		return nil
	})
	var e *apiError
	switch {
	case errors.As(err, &e):
		return e
	case err != nil:
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	if err := s.cluster.queue.SubmitAgain(s.ctx, id, rec.Retries, nil); err != nil {
		if _, rerr := s.cluster.kv.Modify(id, func(r *jobRecord) error {
			r.State, r.Error, r.Finished, r.Crashes, r.Retries = before.State, before.Error, before.Finished, before.Crashes, before.Retries
			return nil
		}); rerr != nil {
			s.log.Error("retry: cannot restore the record of a job that could not be queued", "job", id, "err", rerr)
		}
		return errorf(http.StatusServiceUnavailable, "cannot queue the job on the cluster: %v; retry later", err)
	}
	j.mu.Lock()
	if !j.deleted {
		j.rec = rec
	}
	j.mu.Unlock()
	s.mu.Lock()
	s.queue.Push(j)
	s.mu.Unlock()
	j.events.Publish("state", stateEvent(rec))
	s.log.Info("job queued again", "job", id)
	return nil
}

// clusterControl sends a control request to the worker that runs j.
func (s *Server) clusterControl(j *job, req controlRequest) *apiError {
	b, _ := json.Marshal(req)
	out, err := s.cluster.conn.Control(s.ctx, j.rec.ID, b)
	if errors.Is(err, natsbus.ErrNoWorker) {
		return errorf(http.StatusServiceUnavailable, "job %s: the worker running it does not answer (it may have stopped; another worker resumes the job after the ack wait); retry in a few seconds", j.rec.ID)
	}
	if err != nil {
		return errorf(http.StatusServiceUnavailable, "job %s: %v; retry in a few seconds", j.rec.ID, err)
	}
	var rep controlReply
	if err := json.Unmarshal(out, &rep); err != nil {
		return errorf(http.StatusBadGateway, "job %s: the worker's answer does not decode: %v", j.rec.ID, err)
	}
	if rep.Status != http.StatusOK {
		return errorf(rep.Status, "%s", rep.Error)
	}
	return nil
}

// clusterCancel cancels a job on the cluster and waits (at most timeout)
// until its record is final.
func (s *Server) clusterCancel(j *job, timeout time.Duration) *apiError {
	err := s.clusterEditQueued(j, func(r *jobRecord) error {
		if !r.State.final() {
			now := time.Now().UTC()
			r.State, r.Error, r.Finished = StateCanceled, "canceled by request", &now
		}
		return nil
	})
	switch {
	case errors.Is(err, errRunning):
		if e := s.clusterControl(j, controlRequest{Op: "cancel"}); e != nil {
			return e
		}
	case err != nil:
		return errorf(http.StatusInternalServerError, "%v", err)
	default:
		s.mu.Lock()
		s.queue.Remove(j)
		s.mu.Unlock()
		j.events.Publish("state", stateEvent(j.snapshot()))
		return nil
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if j.snapshot().State.final() {
			return nil
		}
	}
	return errorf(http.StatusInternalServerError, "the job did not stop within %v", timeout)
}

// clusterPrompts adds prompts to a queued job's record, or hands them to
// the worker that runs it.
func (s *Server) clusterPrompts(j *job, ps []pipeline.ObjectPrompt) *apiError {
	err := s.clusterEditQueued(j, func(r *jobRecord) error {
		if e := appendPrompts(r, ps); e != nil {
			return e
		}
		return nil
	})
	var e *apiError
	switch {
	case errors.Is(err, errRunning):
		return s.clusterControl(j, controlRequest{Op: "prompts", Prompts: ps})
	case errors.As(err, &e):
		return e
	case err != nil:
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	return nil
}

// clusterRunningLocked counts the file jobs and cameras the cluster's
// workers run now, from the job records (s.mu held).
func (s *Server) clusterRunningLocked() (files, live int) {
	for _, j := range s.jobs {
		j.mu.Lock()
		if j.rec.State == StateRunning {
			if j.rec.Live {
				live++
			} else {
				files++
			}
		}
		j.mu.Unlock()
	}
	return files, live
}

// close stops relaying and following (the local worker stops with s.ctx).
func (c *cluster) close() {
	for _, stop := range c.stops {
		stop()
	}
}

// runLocal runs serve's local worker until s.ctx ends.
func (s *Server) runLocal(ctx context.Context) {
	if err := s.cluster.local.Run(ctx); err != nil {
		s.log.Error("local worker stopped", "err", err)
	}
}
