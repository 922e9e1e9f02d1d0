package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"samtrack/config"
	"samtrack/internal/jobstore"
	"samtrack/internal/natsbus"
	"samtrack/internal/queue"
)

// Server is `samtrack serve`: the job manager and its HTTP API. Make it
// with New, then Serve or ListenAndServe; both end with a graceful
// shutdown when their context is done.
type Server struct {
	// runner runs the jobs (its ctx is cancelled at shutdown: it stops the
	// workers and ends every event and MJPEG stream), with the server's
	// store, public-text rewriter, URL guard, model pool and metrics.
	runner
	opts   Options
	base   config.Config // the configuration jobs layer their options on
	stop   context.CancelFunc
	closed atomic.Bool // no new jobs: shutting down

	mu          sync.Mutex
	jobs        map[string]*job
	queue       jobQueue
	running     int
	live        []*job        // live jobs to start (at Start) ; liveRunning counts those running
	liveRunning atomic.Int32  // taken under mu (submit's check, then the start); freed without it
	wake        chan struct{} // capacity 1: the queue has work
	workers     sync.WaitGroup
	started     bool

	// cluster is set when file jobs and cameras run on a cluster's workers.
	cluster *cluster
	seg     *segmenter
	streams atomic.Int64
	handler http.Handler
	doneMu  sync.Mutex
	down    bool
}

// New opens the data directory and its job database, loads the job list
// and checks the options (the token rule among them). Unfinished jobs are
// queued again when the server starts serving: file jobs resume from their
// last finished frame, live jobs restart.
func New(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	base, err := config.Load(config.Source{File: opts.ConfigFile, Environ: opts.Environ})
	if err != nil {
		return nil, err
	}
	for _, d := range []string{opts.DataDir, filepath.Join(opts.DataDir, "jobs"), filepath.Join(opts.DataDir, "uploads")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("data directory %s: %w; choose a writable --data directory", d, err)
		}
	}
	st, conn, err := openJobStore(opts)
	if err != nil {
		return nil, err
	}
	r, err := newRunner(opts, base.Video.Timeout, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	r.ctx = ctx
	s := &Server{
		runner: r, opts: opts, base: base, stop: stop,
		jobs: map[string]*job{}, queue: &queue.FIFO[*job]{}, wake: make(chan struct{}, 1),
	}
	s.seg = newSegmenter(s)
	if err := s.load(); err != nil {
		stop()
		st.Close()
		r.close()
		return nil, err
	}
	if opts.Cluster {
		if err := s.startCluster(conn, st); err != nil {
			stop()
			st.Close()
			r.close()
			return nil, err
		}
		s.clusterLoad()
	}
	s.handler = s.routes()
	return s, nil
}

// openJobStore locks the data directory and opens the job state on NATS
// JetStream: the server's own embedded NATS server (storing under
// DataDir/nats) unless opts.NATS names an external one. The job database
// of an earlier version (DataDir/jobs.db) is moved in once.
func openJobStore(opts Options) (_ *jobstore.KV[jobRecord], _ *natsbus.Conn, err error) {
	unlock, err := jobstore.LockDir(opts.DataDir)
	if err != nil {
		return nil, nil, err
	}
	closers := []func() error{unlock}
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	client := opts.NATS
	if client.URL == "" {
		store := filepath.Join(opts.DataDir, "nats")
		emb, err := natsbus.StartEmbedded(natsbus.EmbeddedOptions{Dir: store, Listen: opts.NATSListen})
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, emb.Close)
		client.URL = emb.URL()
		opts.Logger.Info("samtrack serve: embedded NATS JetStream holds the job state", "url", client.URL, "store", store)
	}
	if client.Name == "" {
		client.Name = "samtrack serve"
	}
	conn, err := natsbus.Connect(client)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, conn.Close)
	st, err := jobstore.OpenKV[jobRecord](conn, closers...)
	if err != nil {
		return nil, nil, err
	}
	oldDB := filepath.Join(opts.DataDir, "jobs.db")
	n, err := jobstore.MigrateBolt(oldDB, st) // its errors name oldDB
	if err != nil {
		return nil, nil, fmt.Errorf("move the earlier job database into NATS: %w", err)
	}
	if n > 0 {
		opts.Logger.Info("samtrack serve: moved the job database into NATS JetStream", "jobs", n, "from", oldDB)
	}
	return st, conn, nil
}

// Handler is the server's HTTP handler (API, health, metrics, web page).
func (s *Server) Handler() http.Handler { return s.handler }

// Start starts the job workers; Serve calls it.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	if s.cluster != nil {
		if s.cluster.local != nil {
			s.workers.Go(func() { s.runLocal(s.ctx) })
		}
		return
	}
	for range s.opts.MaxParallel {
		s.workers.Add(1)
		go s.worker()
	}
	for _, j := range s.live {
		s.startLiveLocked(j)
	}
	s.live = nil
	s.signal()
}

// ListenAndServe listens on Options.Listen and serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		s.Close()
		return fmt.Errorf("listen on %s: %w", s.opts.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves the API on ln until ctx is done, then shuts down gracefully:
// it stops taking jobs, checkpoints the running ones (their outputs keep
// every finished frame and they resume at the next start), ends the
// streams and waits for the requests in flight, for at most
// Options.ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.Start()
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.log.Info("samtrack serve: listening", "url", "http://"+ln.Addr().String(), "data", s.opts.DataDir,
		"allow_dirs", s.opts.AllowDirs, "token", s.opts.Token != "", "max_jobs", s.opts.MaxParallel, "max_queue", s.opts.MaxQueue)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("samtrack serve: shutting down; running jobs are checkpointed and resume at the next start")
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	s.shutdownJobs(sctx)
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, s.Close())
}

// shutdownJobs stops taking jobs, checkpoints the running ones and stops
// the workers and streams.
func (s *Server) shutdownJobs(ctx context.Context) {
	s.closed.Store(true)
	s.mu.Lock()
	var running []*job
	for _, j := range s.jobs {
		j.mu.Lock()
		if j.cancel != nil {
			j.cancel(errShutdown)
			running = append(running, j)
		}
		j.mu.Unlock()
	}
	s.mu.Unlock()
	for _, j := range running {
		j.mu.Lock()
		done := j.done
		j.mu.Unlock()
		if done == nil {
			continue
		}
		select {
		case <-done:
		case <-ctx.Done():
			s.log.Warn("shutdown: a job did not stop in time; it resumes from its manifest at the next start", "job", j.rec.ID)
		}
	}
	s.stop() // workers and streams
	wdone := make(chan struct{})
	go func() { s.workers.Wait(); close(wdone) }()
	select {
	case <-wdone:
	case <-ctx.Done():
	}
}

// Close stops the workers (checkpointing running jobs) and closes the
// database. Serve calls it; call it yourself when you only used Handler.
func (s *Server) Close() error {
	s.doneMu.Lock()
	defer s.doneMu.Unlock()
	if s.down {
		return nil
	}
	s.down = true
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	s.shutdownJobs(ctx)
	if s.cluster != nil {
		s.cluster.close()
	}
	err := errors.Join(s.seg.close(), s.runner.close(), s.store.Close())
	return err
}

// Addr is the configured listen address.
func (s *Server) Addr() string { return s.opts.Listen }
