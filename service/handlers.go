package service

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"samtrack/config"
	"samtrack/pipeline"
	"samtrack/video"
)

// createJobRequest is the body of POST /api/v1/jobs.
type createJobRequest struct {
	Input      string          `json:"input"`
	Name       string          `json:"name"`
	Prompts    json.RawMessage `json:"prompts"`
	Options    map[string]any  `json:"options"`
	Everything bool            `json:"everything"`
	// Live is true, or an object of live source settings; it forces the
	// live reader for http(s) streams (rtsp:// etc. are live anyway).
	Live json.RawMessage `json:"live"`
}

func (s *Server) handleCreateJob(w http.ResponseWriter, r *http.Request) error {
	id := newID()
	var req createJobRequest
	var upload string // upload id made by this request
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		var err error
		req, upload, err = s.readJobMultipart(w, r)
		if err != nil {
			return err
		}
	} else {
		body, err := readBody(w, r, s.opts.MaxRequestBytes)
		if err != nil {
			return err
		}
		if e := decodeJSON(body, &req, "job"); e != nil {
			return e
		}
	}
	cleanup := func() {
		if upload != "" {
			os.RemoveAll(filepath.Join(s.opts.DataDir, "uploads", upload))
		}
		os.RemoveAll(s.jobDir(id))
	}
	rec, err := s.prepareJob(id, req)
	if err != nil {
		cleanup()
		return err
	}
	if e := s.checkPromptsFit(r.Context(), rec); e != nil {
		cleanup()
		return e
	}
	rec.OwnUpload = upload
	if e := s.submit(rec); e != nil {
		cleanup()
		return e
	}
	s.respondCreated(w, id)
	s.log.Info("job created", "job", id, "input", rec.Input, "live", rec.Live)
	return nil
}

// respondCreated answers 201 with the new job's view and its Location.
func (s *Server) respondCreated(w http.ResponseWriter, id string) {
	j, _ := s.lookup(id)
	w.Header().Set("Location", "/api/v1/jobs/"+id)
	v := j.snapshot().view()
	v.Queue = s.queuePosition(j)
	writeJSON(w, http.StatusCreated, v)
}

// prepareJob checks a job request and builds its record.
func (s *Server) prepareJob(id string, req createJobRequest) (*jobRecord, error) {
	var live *liveSettings
	forceLive := false
	if raw := bytes.TrimSpace(req.Live); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		switch {
		case bytes.Equal(raw, []byte("true")):
			forceLive = true
		case bytes.Equal(raw, []byte("false")):
		default:
			live = &liveSettings{}
			if e := decodeJSON(raw, live, `job field "live"`); e != nil {
				return nil, e
			}
			forceLive = true
			if _, err := live.apply(s.opts.Live); err != nil {
				return nil, errorf(http.StatusBadRequest, "%v", err)
			}
		}
	}
	in, e := s.resolveInput(req.Input, forceLive)
	if e != nil {
		return nil, e
	}
	if forceLive && !in.URL {
		return nil, errorf(http.StatusBadRequest, `"live" needs a stream URL as input, not a file`)
	}
	cfg, e := s.jobConfig(req.Options)
	if e != nil {
		return nil, e
	}
	prompts, e := s.preparePrompts(req.Prompts, s.jobDir(id))
	if e != nil {
		return nil, e
	}
	if err := prompts.CheckLimits(cfg.Track.MaxPrompts, cfg.Track.MaxFramePrompts); err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	if prompts.Empty() && !req.Everything {
		return nil, errorf(http.StatusBadRequest, `no prompt: give "prompts" (objects with points, a box or a mask) or "everything": true`)
	}
	if len(req.Name) > 200 {
		return nil, errorf(http.StatusBadRequest, `"name" is longer than 200 characters`)
	}
	display := redact(req.Input)
	return &jobRecord{ID: id, Name: req.Name, Input: display, Source: in.Source, Live: in.Live, LiveOpts: live,
		Prompts: prompts, Everything: req.Everything, Options: req.Options, Config: cfg, Created: time.Now().UTC(),
		LastFrame: -1, Objects: []ObjectInfo{}}, nil
}

// jobConfig layers a job's options on the server's configuration.
func (s *Server) jobConfig(opts map[string]any) (config.Config, *apiError) {
	flat, e := s.flattenOptions(opts)
	if e != nil {
		return config.Config{}, e
	}
	c, err := config.Load(config.Source{File: s.opts.ConfigFile, Environ: s.opts.Environ, Overrides: flat})
	if err != nil {
		return c, errorf(http.StatusBadRequest, "options: %v (keys as in the configuration file; `samtrack config keys` lists them)", err)
	}
	return c, nil
}

// preparePrompts parses a prompts document and secures its masks: a mask is
// a path inside an allowed directory or a "data:image/png;base64,..." URL,
// saved into the job's directory.
func (s *Server) preparePrompts(raw json.RawMessage, jobDir string) (pipeline.Prompts, *apiError) {
	var p pipeline.Prompts
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return p, nil
	}
	p, err := pipeline.ParsePrompts(raw, "")
	if err != nil {
		return p, errorf(http.StatusBadRequest, "%v", err)
	}
	n := 0
	fix := func(m string) (string, *apiError) {
		if m == "" {
			return "", nil
		}
		n++
		return s.promptMask(m, jobDir, n)
	}
	var e *apiError
	if p.Mask, e = fix(p.Mask); e != nil {
		return p, e
	}
	for i := range p.Objects {
		if p.Objects[i].Mask, e = fix(p.Objects[i].Mask); e != nil {
			return p, e
		}
	}
	return p, nil
}

var dataURLPrefix = regexp.MustCompile(`^data:image/png;base64,`)

func (s *Server) promptMask(m, jobDir string, n int) (string, *apiError) {
	if !strings.HasPrefix(m, "data:") {
		return s.confine(m, "prompt mask")
	}
	loc := dataURLPrefix.FindStringIndex(m)
	if loc == nil {
		return "", errorf(http.StatusBadRequest, "prompt mask: a data URL must be data:image/png;base64,...")
	}
	b, err := base64.StdEncoding.DecodeString(m[loc[1]:])
	if err != nil {
		return "", errorf(http.StatusBadRequest, "prompt mask: bad base64: %v", err)
	}
	if _, err := png.DecodeConfig(bytes.NewReader(b)); err != nil {
		return "", errorf(http.StatusBadRequest, "prompt mask: not a PNG: %v", err)
	}
	dir := filepath.Join(jobDir, "prompts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", errorf(http.StatusInternalServerError, "save prompt mask: %v", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("mask-%d-%d.png", time.Now().UnixNano(), n))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", errorf(http.StatusInternalServerError, "save prompt mask: %v", err)
	}
	return path, nil
}

// readJobMultipart reads a job created with an uploaded video: the part
// "file" is the video, the part "job" a JSON job request without input (or
// the parts "prompts", "options" and "name").
func (s *Server) readJobMultipart(w http.ResponseWriter, r *http.Request) (createJobRequest, string, error) {
	var req createJobRequest
	var upload string
	fail := func(err error) (createJobRequest, string, error) {
		if upload != "" {
			os.RemoveAll(filepath.Join(s.opts.DataDir, "uploads", upload))
		}
		return req, "", err
	}
	mr, err := s.multipart(w, r)
	if err != nil {
		return fail(err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(multipartErr(err))
		}
		switch part.FormName() {
		case "file":
			if upload != "" {
				return fail(errorf(http.StatusBadRequest, "multipart: more than one file part"))
			}
			id, _, err := s.saveUpload(part)
			if err != nil {
				return fail(err)
			}
			upload = id
		case "job":
			b, err := readPart(part, s.opts.MaxRequestBytes)
			if err != nil {
				return fail(err)
			}
			if e := decodeJSON(b, &req, "multipart part \"job\""); e != nil {
				return fail(e)
			}
		case "prompts":
			b, err := readPart(part, s.opts.MaxRequestBytes)
			if err != nil {
				return fail(err)
			}
			req.Prompts = b
		case "options":
			b, err := readPart(part, s.opts.MaxRequestBytes)
			if err != nil {
				return fail(err)
			}
			if e := decodeJSON(b, &req.Options, "multipart part \"options\""); e != nil {
				return fail(e)
			}
		case "name":
			b, err := readPart(part, 1024)
			if err != nil {
				return fail(err)
			}
			req.Name = string(b)
		default:
			return fail(errorf(http.StatusBadRequest, "multipart: unknown part %q; want file, job, prompts, options or name", part.FormName()))
		}
	}
	if upload == "" {
		return fail(errorf(http.StatusBadRequest, `multipart job without a "file" part; send the video as the part "file"`))
	}
	if req.Input != "" {
		return fail(errorf(http.StatusBadRequest, `multipart job: give the video as the "file" part or "input", not both`))
	}
	req.Input = "upload:" + upload
	return req, upload, nil
}

// multipart returns a streaming multipart reader with the upload limit.
func (s *Server) multipart(w http.ResponseWriter, r *http.Request) (*multipart.Reader, error) {
	limit := s.opts.MaxUploadBytes + s.opts.MaxRequestBytes
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "upload of %d bytes is over the %d-byte limit", r.ContentLength, s.opts.MaxUploadBytes)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "multipart: %v", err)
	}
	return mr, nil
}

func multipartErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "upload over the %d-byte limit", mbe.Limit)
	}
	return errorf(http.StatusBadRequest, "multipart: %v", err)
}

func readPart(p *multipart.Part, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(p, limit+1))
	if err != nil {
		return nil, multipartErr(err)
	}
	if int64(len(b)) > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "multipart part %q is over the %d-byte limit", p.FormName(), limit)
	}
	return b, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// saveUpload streams a file part into uploads/ID/NAME.
func (s *Server) saveUpload(part *multipart.Part) (id, path string, err error) {
	id = newID()
	dir := filepath.Join(s.opts.DataDir, "uploads", id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", errorf(http.StatusInternalServerError, "save upload: %v", err)
	}
	name := unsafeName.ReplaceAllString(filepath.Base(part.FileName()), "_")
	name = strings.TrimLeft(name, ".")
	if len(name) > 100 {
		name = name[len(name)-100:]
	}
	if name == "" {
		name = "upload.bin"
	}
	tmp := filepath.Join(dir, ".partial")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return "", "", errorf(http.StatusInternalServerError, "save upload: %v", err)
	}
	n, err := io.Copy(f, io.LimitReader(part, s.opts.MaxUploadBytes+1))
	if err == nil && n > s.opts.MaxUploadBytes {
		err = errorf(http.StatusRequestEntityTooLarge, "uploaded file is over the %d-byte limit", s.opts.MaxUploadBytes)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil && n == 0 {
		err = errorf(http.StatusBadRequest, "the uploaded file is empty")
	}
	if err == nil {
		path = filepath.Join(dir, name)
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = s.probeUpload(path, name)
	}
	if err != nil {
		os.RemoveAll(dir)
		var ae *apiError
		if errors.As(err, &ae) {
			return "", "", ae
		}
		return "", "", multipartErr(err)
	}
	return id, path, nil
}

// probeUpload refuses, when it arrives, an upload FFmpeg cannot open as a
// video or an image (415) or one over video.max_pixels (413), instead of
// failing the job that uses it later.
func (s *Server) probeUpload(path, name string) error {
	src, err := video.Open(s.ctx, path, video.Options{MaxPixels: s.base.Video.MaxPixels, Threads: 1, Logger: s.log})
	if err == nil {
		return src.Close()
	}
	reason := strings.ReplaceAll(err.Error(), path, name) // the client's name, not the server's path
	if errors.Is(err, video.ErrTooLarge) {
		return errorf(http.StatusRequestEntityTooLarge, "uploaded file %s: %s", name, reason)
	}
	return errorf(http.StatusUnsupportedMediaType, "uploaded file %s is not a video or an image samtrack can read: %s", name, reason)
}

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) error {
	mr, err := s.multipart(w, r)
	if err != nil {
		return err
	}
	var id, path string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return multipartErr(err)
		}
		if part.FormName() != "file" || id != "" {
			if id != "" {
				os.RemoveAll(filepath.Dir(path))
			}
			return errorf(http.StatusBadRequest, `multipart upload: send exactly one part named "file"`)
		}
		if id, path, err = s.saveUpload(part); err != nil {
			return err
		}
	}
	if id == "" {
		return errorf(http.StatusBadRequest, `multipart upload without a "file" part`)
	}
	st, _ := os.Stat(path)
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "input": "upload:" + id, "name": filepath.Base(path), "size": st.Size()})
	return nil
}

func (s *Server) handleDeleteUpload(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, e := s.uploadPath(id); e != nil {
		return e
	}
	s.mu.Lock()
	for _, j := range s.jobs {
		j.mu.Lock()
		using := !j.rec.State.final() && strings.HasPrefix(j.rec.Source, filepath.Join(s.opts.DataDir, "uploads", id)+string(filepath.Separator))
		jid := j.rec.ID
		j.mu.Unlock()
		if using {
			s.mu.Unlock()
			return errorf(http.StatusConflict, "upload %s is the input of unfinished job %s", id, jid)
		}
	}
	s.mu.Unlock()
	if err := os.RemoveAll(filepath.Join(s.opts.DataDir, "uploads", id)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) error {
	want := State(r.URL.Query().Get("state"))
	if want != "" && !slices.Contains(States, want) {
		return errorf(http.StatusBadRequest, "state %q: want queued, running, done, failed or canceled", want)
	}
	s.mu.Lock()
	jobs := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	views := make([]JobView, 0, len(jobs))
	for _, j := range jobs {
		rec := j.snapshot()
		if want != "" && rec.State != want {
			continue
		}
		views = append(views, rec.view())
	}
	slices.SortFunc(views, func(a, b JobView) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"jobs": views})
	return nil
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	v := j.snapshot().view()
	v.Queue = s.queuePosition(j)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) handleDeleteJob(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	if e := s.deleteJob(j); e != nil {
		return e
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleCancelJob(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	if e := s.cancelJob(j, 30*time.Second); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, j.snapshot().view())
	return nil
}

func (s *Server) handleRetryJob(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	if e := s.retryJob(j); e != nil {
		return e
	}
	writeJSON(w, http.StatusAccepted, j.snapshot().view())
	return nil
}

// promptsRequest is the body of POST /api/v1/jobs/{id}/prompts: one object
// prompt, or several under "objects".
type promptsRequest struct {
	pipeline.ObjectPrompt
	Objects []pipeline.ObjectPrompt `json:"objects"`
}

func (s *Server) handlePrompts(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	body, err := readBody(w, r, s.opts.MaxRequestBytes)
	if err != nil {
		return err
	}
	var req promptsRequest
	if e := decodeJSON(body, &req, "prompts"); e != nil {
		return e
	}
	objs := req.Objects
	single := req.ObjectPrompt
	if len(single.Points) > 0 || single.Box != nil || single.Mask != "" {
		objs = append([]pipeline.ObjectPrompt{single}, objs...)
	} else if single.ID != 0 || single.Frame != 0 {
		return errorf(http.StatusBadRequest, "prompts: give points, a box or a mask")
	}
	if len(objs) == 0 {
		return errorf(http.StatusBadRequest, `prompts: give {"frame", "id", "points"|"box"|"mask"} or {"objects": [...]}`)
	}
	p := pipeline.Prompts{Objects: objs}
	if err := p.Validate(); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	for i := range objs {
		if objs[i].Mask != "" {
			if objs[i].Mask, e = s.promptMask(objs[i].Mask, s.jobDir(j.snapshot().ID), i+1); e != nil {
				return e
			}
		}
	}
	if e := s.addPrompts(j, objs); e != nil {
		return e
	}
	v := j.snapshot()
	writeJSON(w, http.StatusAccepted, map[string]any{"accepted": len(objs), "state": v.State, "last_frame": v.LastFrame})
	return nil
}

func (s *Server) handleJobFrame(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	jpg, _, index := j.latest.JPEG()
	if jpg == nil {
		return errorf(http.StatusNotFound, "job %s has no tracked frame yet (state %s); overlay frames exist while and after it runs in this server process", j.snapshot().ID, j.snapshot().State)
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Index", strconv.Itoa(index))
	w.Header().Set("Content-Length", strconv.Itoa(len(jpg)))
	w.Write(jpg)
	return nil
}

// inputExts are the file types /api/v1/inputs lists.
var inputExts = map[string]bool{".mp4": true, ".mkv": true, ".mov": true, ".avi": true, ".webm": true, ".m4v": true,
	".ts": true, ".mpg": true, ".mpeg": true, ".jpg": true, ".jpeg": true, ".png": true}

// maxListedInputs bounds the answer of /api/v1/inputs.
const maxListedInputs = 1000

// handleInputs lists the video and image files directly inside the allowed
// directories (and their image-sequence subdirectories), for a picker.
func (s *Server) handleInputs(w http.ResponseWriter, r *http.Request) error {
	type file struct {
		Path string `json:"path"`
		Size int64  `json:"size"`
		Dir  bool   `json:"dir,omitempty"`
	}
	files := []file{}
	for i, d := range s.opts.AllowDirs {
		name := s.opts.allowNames[i] // as configured: resolved paths stay inside
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if len(files) >= maxListedInputs || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(name, e.Name())
			if e.IsDir() {
				files = append(files, file{Path: p, Dir: true})
				continue
			}
			if !inputExts[strings.ToLower(filepath.Ext(e.Name()))] {
				continue
			}
			if real, e := s.confine(p, "input"); e == nil {
				if st, err := os.Stat(real); err == nil && st.Mode().IsRegular() {
					files = append(files, file{Path: p, Size: st.Size()})
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files, "allow_dirs": s.opts.allowNames, "schemes": s.opts.AllowSchemes})
	return nil
}
