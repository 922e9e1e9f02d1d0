package service

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"samtrack/inpaint"
	"samtrack/pipeline"
)

// RemovedFile is the video a remove job writes in its output directory.
const RemovedFile = "removed.mp4"

// removeSettings make a job a removal: it fills the objects of a finished
// tracking job (From) in that job's input, like samtrack remove --masks,
// with the job's remove.* settings (Margin and Window record what the
// request overrode).
type removeSettings struct {
	From   string   `json:"from"`
	IDs    []uint16 `json:"ids,omitempty"`
	Margin int      `json:"margin,omitempty"`
	Window int      `json:"window,omitempty"`
}

type removeRequest struct {
	IDs    []uint16 `json:"ids"`
	Margin int      `json:"margin"`
	Window int      `json:"window"`
}

// handleRemove creates a remove job from a finished tracking job.
func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) error {
	from, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	var req removeRequest
	if body, err := readBody(w, r, s.opts.MaxRequestBytes); err != nil {
		return err
	} else if len(body) > 0 {
		if e := decodeJSON(body, &req, "remove"); e != nil {
			return e
		}
	}
	src := from.snapshot()
	switch {
	case src.Live:
		return errorf(http.StatusConflict, "job %s is a live job; remove works on video files", src.ID)
	case src.Remove != nil:
		return errorf(http.StatusConflict, "job %s is itself a removal; remove from the tracking job %s", src.ID, src.Remove.From)
	case src.State != StateDone:
		return errorf(http.StatusConflict, "job %s is %s; objects can be removed once its tracking is done", src.ID, src.State)
	}
	if skipped := inpaint.SkippedFrames(src.Config.Video.Start, src.Config.Video.Stride); skipped != "" {
		return errorf(http.StatusConflict, "job %s skipped frames of its input (%s), and a removal needs a mask for every frame; track the input again without video.start and video.stride", src.ID, skipped)
	}
	cfg := src.Config
	if req.Margin != 0 {
		cfg.Remove.Margin = req.Margin
	}
	if req.Window != 0 {
		cfg.Remove.Window = req.Window
	}
	if err := cfg.Validate(); err != nil {
		return errorf(http.StatusBadRequest, "remove: %v", err)
	}
	id := newID()
	rec := &jobRecord{ID: id, Name: "remove from " + src.ID, Input: src.Input, Source: src.Source, Config: cfg,
		Created: time.Now().UTC(), Remove: &removeSettings{From: src.ID, IDs: req.IDs, Margin: req.Margin, Window: req.Window}}
	if e := s.submit(rec); e != nil {
		return e
	}
	s.respondCreated(w, id)
	s.log.Info("remove job created", "job", id, "from", src.ID, "ids", req.IDs)
	return nil
}

// runRemove runs a remove job: the tracking job's masks, this job's output
// directory. It returns the frames written.
func (s *runner) runRemove(ctx context.Context, j *job, rec *jobRecord) (int, error) {
	masks, err := inpaint.DirMasks(s.outDir(rec.Remove.From), rec.Remove.IDs)
	if err != nil {
		return 0, err
	}
	out := s.outDir(rec.ID)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}
	opts, err := inpaint.FromConfig(rec.Config.Remove, rec.Config.Runtime.ORTLibrary)
	if err != nil {
		return 0, err
	} // inpaint.Remove closes opts.Synth
	start := time.Now()
	res, err := inpaint.Remove(ctx, inpaint.Spec{Input: rec.Source, Out: filepath.Join(out, RemovedFile), Masks: masks,
		Opts: opts, CRF: rec.Config.Remove.CRF, Log: s.log.With("job", rec.ID),
		OnFrame: func(done, total int) {
			j.mu.Lock()
			defer j.mu.Unlock()
			j.rec.FramesDone, j.rec.Total, j.rec.LastFrame = done, total, done-1
			fps, _ := pipeline.Rate(done, total, start)
			j.noteRate(done, fps, false)
			j.events.Publish("progress", progressEvent(j.rec))
		}})
	return res.Frames, err
}

// handleRemoved serves a finished remove job's video.
func (s *Server) handleRemoved(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	rec := j.snapshot()
	if rec.Remove == nil {
		return errorf(http.StatusNotFound, "job %s is not a remove job; POST /api/v1/jobs/%s/remove makes one", rec.ID, rec.ID)
	}
	if rec.State != StateDone {
		return errorf(http.StatusConflict, "job %s is %s; its video is ready when it is done", rec.ID, rec.State)
	}
	w.Header().Set("Content-Type", "video/mp4")
	http.ServeFile(w, r, filepath.Join(s.outDir(rec.ID), RemovedFile))
	return nil
}
