package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"samtrack/export"
	"samtrack/internal/natsbus"
	"samtrack/pipeline"
)

// camera is a live job held here under a lease.
type camera struct {
	job  chan *job     // the running job, once claimed (capacity 1)
	quit chan struct{} // closed by stopCamera before the job is claimed
	done chan struct{} // closed when the camera's goroutine has ended
}

// keepCameras holds this worker's share of the live jobs' leases until ctx
// ends (natsbus.Keeper: at most MaxLive, spread evenly across workers).
func (w *Worker) keepCameras(ctx context.Context) error {
	leases, err := w.conn.Leases(ctx, w.opts.Cluster.LeaseTTL)
	if err != nil {
		return err
	}
	cams := map[string]*camera{} // used from the keeper's goroutine only
	keys, err := w.followLive(ctx)
	if err != nil {
		return err
	}
	k := &natsbus.Keeper{Leases: leases, Holder: w.opts.Name, Max: w.opts.MaxLive, Log: w.log, Keys: keys}
	k.Start = func(key string) { cams[key] = w.startCamera(ctx, key, func() bool { return k.Holds(key) }) }
	k.Stop = func(key string, why error) {
		if c := cams[key]; c != nil {
			delete(cams, key)
			w.stopCamera(key, c, why)
		}
	}
	return k.Run(ctx)
}

// followLive keeps the set of live jobs that should run somewhere (live
// and unfinished) from the job bucket's changes, read again in full every
// resync so that nothing missed lasts; keys lists it for the keeper without
// a round trip, so that slow reads never delay lease renewals.
func (w *Worker) followLive(ctx context.Context) (keys func(context.Context) ([]string, error), err error) {
	const resync = 15 * time.Second
	var (
		mu   sync.Mutex
		live = map[string]bool{}
	)
	apply := func(id string, r *jobRecord) {
		if r != nil && r.Live && !r.State.final() {
			live[id] = true
		} else {
			delete(live, id)
		}
	}
	if err := w.kv.Watch(ctx, func(id string, r *jobRecord) {
		mu.Lock()
		defer mu.Unlock()
		apply(id, r)
	}); err != nil {
		return nil, err
	}
	resyncNow := func() error {
		recs, _, err := w.kv.All()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		clear(live)
		for _, r := range recs {
			apply(r.ID, r)
		}
		return nil
	}
	if err := resyncNow(); err != nil {
		return nil, err
	}
	go every(ctx, resync, func() bool {
		if err := resyncNow(); err != nil {
			w.log.Warn("worker: reread the live jobs", "err", err)
		}
		return true
	})
	return func(context.Context) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		out := make([]string, 0, len(live))
		for id := range live {
			out = append(out, id)
		}
		slices.Sort(out)
		return out, nil
	}, nil
}

// startCamera claims the live job key (this worker now holds its lease)
// and runs it from the last session's checkpoint, in its own goroutine,
// stopping it without another write as soon as holds says the lease can no
// longer be proved (the fence: it holds even when the keeper's rounds stall).
func (w *Worker) startCamera(ctx context.Context, key string, holds func() bool) *camera {
	c := &camera{job: make(chan *job, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			j, err := w.claimCamera(key)
			if err == nil {
				c.job <- j
				stopFence := w.fence(j, holds)
				w.runHere(j)
				stopFence()
				return
			}
			if errors.Is(err, errNotForUs) {
				return // finished or deleted: the keeper drops the lease
			}
			w.log.Warn("worker: cannot claim a camera; retrying", "job", key, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-c.quit:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return c
}

// fence loses j (stops it, writing nothing more) once holds is false.
func (w *Worker) fence(j *job, holds func() bool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		every(ctx, 100*time.Millisecond, func() bool {
			if holds() {
				return true
			}
			w.log.Warn("worker: the camera's lease can no longer be proved; stopping it", "job", j.rec.ID)
			w.loseJob(j)
			return false
		})
	}()
	return func() { cancel(); <-finished }
}

// claimCamera marks the live job as running here and prepares its new
// session: the last session's final label map becomes its prompt, so that
// every object keeps its id, and the frames in between are recorded as a gap.
func (w *Worker) claimCamera(key string) (*job, error) {
	rec, err := w.claimRecord(key, 0, func(r *jobRecord) error {
		if r.State.final() || !r.Live {
			return errNotForUs
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	j := newJob(rec)
	w.resumeCamera(j)
	return j, nil
}

// resumeCamera points j's new session at the checkpoint of its last one:
// the label map of its last finished frame.
func (w *Worker) resumeCamera(j *job) {
	rec := j.rec
	out := w.outDir(rec.ID)
	m, err := readManifest(out)
	if err != nil || m.LastFrame < 0 {
		return
	}
	src := filepath.Join(out, export.MasksDir, fmt.Sprintf("%05d.png", m.LastFrame))
	dst := filepath.Join(w.jobDir(rec.ID), fmt.Sprintf("checkpoint-%d.png", rec.Sessions))
	if err := copyFile(src, dst); err != nil {
		w.log.Warn("worker: no checkpoint of the camera's last session; its objects are prompted again", "job", rec.ID, "err", err)
		return
	}
	j.resume = &pipeline.Prompts{Mask: dst}
	now := time.Now().UTC()
	start := now
	if st, err := os.Stat(filepath.Join(out, export.ManifestFile)); err == nil {
		start = st.ModTime().UTC()
	}
	rec.Gaps = append(rec.Gaps, pipeline.GapRecord{Start: start, End: &now, Seconds: now.Sub(start).Seconds(),
		LastFrameBefore: m.LastFrame, FirstFrameAfter: 0,
		Reason: fmt.Sprintf("worker handover: %s took the camera (session %d ended at frame %d; the new session starts at frame 0 from its last label map)", w.opts.Name, rec.Sessions, m.LastFrame)})
	if len(rec.Gaps) > maxGapsKept {
		rec.Gaps = append(rec.Gaps[:0], rec.Gaps[len(rec.Gaps)-maxGapsKept:]...)
	}
}

// stopCamera ends a camera whose lease this worker gives back (checkpointed
// and queued for the next worker) or lost (stopped without another write:
// the next holder owns its record), and waits until it has stopped.
func (w *Worker) stopCamera(key string, c *camera, why error) {
	close(c.quit)
	var j *job
	select {
	case j = <-c.job:
	case <-c.done:
	}
	if j != nil {
		if errors.Is(why, context.Canceled) || errors.Is(why, natsbus.ErrRebalanced) {
			w.handOver(j)
		} else {
			w.loseJob(j)
		}
	}
	began := time.Now()
	defer func() { w.log.Info("worker: camera stopped", "job", key, "why", why, "took", time.Since(began)) }()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		w.log.Error("worker: a camera did not stop within 10 s of losing its lease", "job", key, "why", why)
	}
}

// handOver stops j checkpointed (queued again, for the next holder).
func (w *Worker) handOver(j *job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stopLocked(errShutdown)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
