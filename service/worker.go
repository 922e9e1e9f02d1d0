package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"samtrack/config"
	"samtrack/internal/jobstore"
	"samtrack/internal/natsbus"
	"samtrack/pipeline"
)

// WorkerOptions configure a Worker (`samtrack worker`).
type WorkerOptions struct {
	// NATS is the cluster's NATS server (the one `samtrack serve --nats`
	// uses).
	NATS natsbus.ClientOptions
	// DataDir is the data directory the worker shares with serve (a
	// shared file system): jobs' outputs and resume journals go to
	// DataDir/jobs/ID/out, uploads are read from DataDir/uploads.
	DataDir string
	// Name identifies the worker in job records and leases (default
	// HOST-PID).
	Name string
	// MaxJobs is how many file jobs run at once; MaxLive how many live
	// cameras this worker holds. 0 takes none of that kind.
	MaxJobs, MaxLive int
	Cluster          ClusterOptions
	// MaxResumes is how many times a file job may lose its worker before
	// it is failed (default 3).
	MaxResumes int
	// AllowNets are the non-public networks URL inputs may reach, as for
	// serve's --allow-net.
	AllowNets []string
	// FrameRate bounds the overlay frames a second each job publishes for
	// serve's MJPEG stream (default 5).
	FrameRate float64
	Logger    *slog.Logger
}

// ClusterOptions are the settings serve and every worker of a cluster must
// share: they configure the job queue and the lease bucket.
type ClusterOptions struct {
	// AckWait is how long a file job may go without a sign of life from
	// its worker before another worker resumes it (default 30 s).
	AckWait time.Duration
	// LeaseTTL is how long a camera's lease lasts without renewal: a dead
	// worker's cameras move to another worker within about LeaseTTL plus
	// a third of it (default 5 s).
	LeaseTTL time.Duration
}

func (c ClusterOptions) withDefaults() ClusterOptions {
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 5 * time.Second
	}
	return c
}

// Worker runs the file jobs and live cameras of a cluster: file jobs from
// the JetStream work queue (kept alive while they run, resumed by another
// worker after the ack wait when this one dies), cameras under leases in
// the key-value store (taken over by another worker, with the object ids
// of the last frame, when this one dies). It runs them with the same code
// as a single serve process and publishes their events and frames for
// serve to relay. Make it with NewWorker, then Run.
type Worker struct {
	runner
	opts  WorkerOptions
	conn  *natsbus.Conn
	kv    *jobstore.KV[jobRecord]
	queue *natsbus.Queue
	// own says whether Close closes conn, kv and the runner's resources
	// (a standalone worker) or leaves them to serve (its local worker).
	own bool

	mu   sync.Mutex
	jobs map[string]*job // running here
}

// NewWorker connects to NATS and opens the job bucket, the queue and the
// shared data directory.
func NewWorker(opts WorkerOptions) (*Worker, error) {
	if opts.DataDir == "" {
		return nil, errors.New("worker: no --data directory (the directory shared with samtrack serve)")
	}
	if opts.MaxJobs < 0 || opts.MaxLive < 0 || opts.MaxJobs+opts.MaxLive == 0 {
		return nil, fmt.Errorf("worker: --max-jobs %d and --max-live %d: give at least one of them a positive value", opts.MaxJobs, opts.MaxLive)
	}
	sopts, err := Options{DataDir: opts.DataDir, AllowNets: opts.AllowNets, MaxResumes: opts.MaxResumes, Logger: opts.Logger, Environ: []string{}}.withDefaults()
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(sopts.DataDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("worker: data directory %s is not there; pass the directory samtrack serve uses as --data (shared)", opts.DataDir)
	}
	opts.DataDir, opts.Logger, opts.MaxResumes = sopts.DataDir, sopts.Logger, sopts.MaxResumes
	if opts.Name == "" {
		host, _ := os.Hostname()
		opts.Name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if opts.NATS.Name == "" {
		opts.NATS.Name = "samtrack worker " + opts.Name
	}
	conn, err := natsbus.Connect(opts.NATS)
	if err != nil {
		return nil, err
	}
	kv, err := jobstore.OpenKV[jobRecord](conn, conn.Close)
	if err != nil {
		conn.Close()
		return nil, err
	}
	sopts.MaxParallel, sopts.MaxLive = opts.MaxJobs, opts.MaxLive // the model pool's size
	r, err := newRunner(sopts, config.Default().Video.Timeout, kv)
	if err != nil {
		kv.Close()
		return nil, err
	}
	w, err := newWorker(opts, r, conn, kv)
	if err != nil {
		r.close()
		kv.Close()
		return nil, err
	}
	w.own = true
	return w, nil
}

// newWorker makes a worker on an open connection and runner (serve's
// local worker shares both with serve).
func newWorker(opts WorkerOptions, r runner, conn *natsbus.Conn, kv *jobstore.KV[jobRecord]) (*Worker, error) {
	opts.Cluster = opts.Cluster.withDefaults()
	if opts.FrameRate <= 0 {
		opts.FrameRate = 5
	}
	r.store = kv
	r.log = opts.Logger.With("worker", opts.Name)
	w := &Worker{runner: r, opts: opts, conn: conn, kv: kv, jobs: map[string]*job{}}
	if opts.MaxJobs > 0 {
		q, err := conn.JobQueue(context.Background(), natsbus.QueueOptions{AckWait: opts.Cluster.AckWait, MaxDeliver: unboundedDeliveries})
		if err != nil {
			return nil, err
		}
		w.queue = q
	}
	return w, nil
}

// Run takes jobs and cameras until ctx ends, then hands every running one
// back (checkpointed: another worker resumes it at once) and returns.
func (w *Worker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.ctx = ctx
	w.log.Info("samtrack worker: taking jobs", "max_jobs", w.opts.MaxJobs, "max_live", w.opts.MaxLive,
		"ack_wait", w.opts.Cluster.AckWait, "lease_ttl", w.opts.Cluster.LeaseTTL, "data", w.dataDir)
	var wg sync.WaitGroup
	for range w.opts.MaxJobs {
		wg.Go(func() { w.takeJobs(ctx) })
	}
	wg.Go(func() { w.watchConnection(ctx) })
	var err error
	if w.opts.MaxLive > 0 {
		err = w.keepCameras(ctx)
		cancel()
	}
	wg.Wait()
	return err
}

// Close releases what NewWorker opened.
func (w *Worker) Close() error {
	if !w.own {
		return nil
	}
	return errors.Join(w.runner.close(), w.kv.Close())
}

// takeJobs runs file jobs from the queue, one at a time, until ctx ends.
func (w *Worker) takeJobs(ctx context.Context) {
	for {
		d, err := w.queue.Next(ctx)
		if ctx.Err() != nil {
			if d != nil {
				_ = d.Retry(0) // stopping: another worker takes it now
			}
			return
		}
		if err != nil {
			w.log.Warn("worker: waiting for a job failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		w.runDelivery(d)
	}
}

// unboundedDeliveries leaves the job queue's redeliveries unbounded: a
// job's record counts the workers it lost (claim) and fails it past
// MaxResumes. A bound on the queue would drop the job first, with its
// record still saying it runs, and every graceful hand-back at a worker's
// shutdown would use up a delivery.
const unboundedDeliveries = -1

// errNotForUs says a delivered job must not run here: it is finished,
// deleted, live, or run by another worker.
var errNotForUs = errors.New("the job is not to be run")

// runDelivery claims and runs one delivered file job, keeping its message
// alive meanwhile, and acknowledges it when the job has ended (or gives it
// back when this worker stops first).
func (w *Worker) runDelivery(d *natsbus.Delivery) {
	stop := d.KeepAlive(w.opts.Cluster.AckWait / 3)
	j, err := w.claim(d)
	if err != nil {
		stop()
		if errors.Is(err, errNotForUs) {
			w.ack(d)
			return
		}
		w.log.Warn("worker: cannot claim a job; giving it back", "job", d.ID, "err", err)
		_ = d.Retry(5 * time.Second)
		return
	}
	w.runHere(j)
	stop()
	j.mu.Lock()
	state, lost := j.rec.State, j.lost
	j.mu.Unlock()
	switch {
	case lost:
		// not acknowledged: the queue hands it to another worker
	case state == StateQueued:
		_ = d.Retry(0) // stopped at shutdown: another worker resumes it now
	default:
		w.ack(d)
	}
}

func (w *Worker) ack(d *natsbus.Delivery) {
	if err := d.Done(context.Background()); err != nil {
		w.log.Warn("worker: acknowledge job", "job", d.ID, "err", err)
	}
}

// claim marks the delivered job as running on this worker. A job whose
// record says it runs already is taken over only on a redelivery of the
// message it was claimed with (its worker stopped answering), and counted
// as a crash.
func (w *Worker) claim(d *natsbus.Delivery) (*job, error) {
	rec, err := w.claimRecord(d.ID, d.Seq, func(r *jobRecord) error {
		switch {
		case r.State.final(), r.Live:
			return errNotForUs
		case r.State == StateRunning && !redelivered(r, d):
			return errNotForUs // a duplicate message: its first one runs
		case r.State == StateRunning:
			r.Crashes++
			if r.Crashes > w.opts.MaxResumes {
				now := time.Now().UTC()
				r.State, r.Finished = StateFailed, &now
				r.Error = fmt.Sprintf("the worker running this job stopped %d times (crash, kill or lost connection); not resuming it again; the finished frames are in the results", r.Crashes)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rec.State == StateFailed {
		w.publishState(rec)
		return nil, errNotForUs
	}
	return newJob(rec), nil
}

// redelivered says whether d is the message that r's running worker
// claimed the job with, handed out again. A record written before claims
// kept the message (QueueSeq 0) falls back on the server's delivery count.
func redelivered(r *jobRecord, d *natsbus.Delivery) bool {
	if r.QueueSeq == 0 {
		return d.Attempt > 1
	}
	return r.QueueSeq == d.Seq
}

// claimRecord marks job id as running on this worker, claimed with
// work-queue message seq (0 for a live job), unless check refuses it
// (errNotForUs, also when there is no record) or ends it; the record it
// returns is queued again in memory, as run starts it.
func (w *Worker) claimRecord(id string, seq uint64, check func(*jobRecord) error) (*jobRecord, error) {
	rec, err := w.kv.Modify(id, func(r *jobRecord) error {
		if err := check(r); err != nil || r.State.final() {
			return err
		}
		r.State, r.Worker, r.Workers = StateRunning, w.opts.Name, append(r.Workers, w.opts.Name)
		r.QueueSeq = seq
		return nil
	})
	if errors.Is(err, jobstore.ErrNotFound) {
		return nil, errNotForUs
	}
	if err != nil {
		return nil, err
	}
	if rec.State == StateRunning {
		rec.State = StateQueued
	}
	return rec, nil
}

func (w *Worker) publishState(rec *jobRecord) {
	b, _ := json.Marshal(stateEvent(rec))
	_ = w.conn.PublishEvent(rec.ID, "state", b)
}

// runHere runs j on this worker: it answers serve's control requests for
// it and relays its events and frames while it runs.
func (w *Worker) runHere(j *job) {
	id := j.rec.ID
	w.mu.Lock()
	w.jobs[id] = j
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.jobs, id)
		w.mu.Unlock()
	}()
	stopControl, err := w.conn.HandleControl(id, func(req []byte) []byte { return w.control(j, req) })
	if err != nil {
		w.log.Warn("worker: no control subject for a job; serve cannot cancel it", "job", id, "err", err)
		stopControl = func() {}
	}
	defer stopControl()
	stopRelay := w.relay(j)
	defer stopRelay()
	w.run(j)
}

// controlRequest is what serve asks the worker that runs a job.
type controlRequest struct {
	Op      string                  `json:"op"` // "cancel" or "prompts"
	Prompts []pipeline.ObjectPrompt `json:"prompts,omitempty"`
}

// controlReply answers it: Status is an HTTP status for serve to pass on.
type controlReply struct {
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

func (w *Worker) control(j *job, b []byte) []byte {
	var req controlRequest
	reply := controlReply{Status: http.StatusOK}
	switch err := json.Unmarshal(b, &req); {
	case err != nil:
		reply = controlReply{Status: http.StatusBadRequest, Error: "control request: " + err.Error()}
	case req.Op == "cancel":
		j.mu.Lock()
		if j.cancel != nil {
			j.cancel(errCanceled)
		}
		j.mu.Unlock()
	case req.Op == "prompts":
		if e := w.addPrompts(j, req.Prompts); e != nil {
			reply = controlReply{Status: e.status, Error: e.msg}
		}
	default:
		reply = controlReply{Status: http.StatusBadRequest, Error: fmt.Sprintf("control request: unknown op %q", req.Op)}
	}
	out, _ := json.Marshal(reply)
	return out
}

// watchConnection stops the file jobs running here when the worker has
// been cut off from NATS for half the ack wait: their messages cannot be
// kept alive, so another worker may take them, and two workers must never
// write one job's outputs.
func (w *Worker) watchConnection(ctx context.Context) {
	limit := w.opts.Cluster.AckWait / 2
	seen := time.Now()
	every(ctx, limit/10, func() bool {
		if w.conn.NC.IsConnected() {
			seen = time.Now()
			return true
		}
		if time.Since(seen) < limit {
			return true
		}
		w.mu.Lock()
		for _, j := range w.jobs {
			if !j.rec.Live {
				w.loseJob(j)
			}
		}
		w.mu.Unlock()
		return true
	})
}

// every calls f every d until ctx ends or f returns false.
func every(ctx context.Context, d time.Duration, f func() bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !f() {
			return
		}
	}
}

// loseJob stops j without writing its record again (another worker may
// own it by now), or keeps it from starting.
func (w *Worker) loseJob(j *job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.lost {
		j.lost = true
		j.stopLocked(errLost)
	}
}
