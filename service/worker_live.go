package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"samtrack/export"
	"samtrack/internal/jobstore"
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
	k := &natsbus.Keeper{
		Leases: leases, Holder: w.opts.Name, Max: w.opts.MaxLive, Log: w.log,
		Keys:  w.liveKeys,
		Start: func(key string) { cams[key] = w.startCamera(ctx, key) },
		Stop: func(key string, why error) {
			if c := cams[key]; c != nil {
				delete(cams, key)
				w.stopCamera(key, c, why)
			}
		},
	}
	return k.Run(ctx)
}

// liveKeys lists the live jobs that should run somewhere.
func (w *Worker) liveKeys(context.Context) ([]string, error) {
	recs, _, err := w.kv.All()
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, r := range recs {
		if r.Live && !r.State.final() {
			keys = append(keys, r.ID)
		}
	}
	return keys, nil
}

// startCamera claims the live job key (this worker now holds its lease)
// and runs it from the last session's checkpoint, in its own goroutine.
func (w *Worker) startCamera(ctx context.Context, key string) *camera {
	c := &camera{job: make(chan *job, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			j, err := w.claimCamera(key)
			if err == nil {
				c.job <- j
				w.runHere(j)
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

// claimCamera marks the live job as running here and prepares its new
// session: the last session's final label map becomes its prompt, so that
// every object keeps its id, and the frames in between are recorded as a gap.
func (w *Worker) claimCamera(key string) (*job, error) {
	rec, err := w.kv.Modify(key, func(r *jobRecord) error {
		if r.State.final() || !r.Live {
			return errNotForUs
		}
		r.State, r.Worker, r.Workers = StateRunning, w.opts.Name, append(r.Workers, w.opts.Name)
		return nil
	})
	if errors.Is(err, jobstore.ErrNotFound) {
		return nil, errNotForUs
	}
	if err != nil {
		return nil, err
	}
	rec.State = StateQueued // run starts a queued record
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
		handover := errors.Is(why, context.Canceled) || errors.Is(why, natsbus.ErrRebalanced)
		j.mu.Lock()
		switch {
		case j.cancel == nil:
		case handover:
			j.cancel(errShutdown)
		default:
			j.lost = true
			j.cancel(errLost)
		}
		j.mu.Unlock()
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		w.log.Error("worker: a camera did not stop within 10 s of losing its lease", "job", key, "why", why)
	}
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
