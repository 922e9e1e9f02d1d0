package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"samtrack/config"
	"samtrack/export"
	"samtrack/internal/lru"
	"samtrack/internal/streams"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/pipeline"
	"samtrack/segment"
	"samtrack/tracker"
	"samtrack/video"
)

// segmenter answers interactive segmentation requests. Decoded frames
// (each with the frame after it, for the classical segmenter's motion) are
// cached by (input, frame, video settings) and, with a SAM model, so are
// their embeddings, so that repeated clicks on one frame neither decode nor
// encode it again.
type segmenter struct {
	s      *Server
	sem    chan struct{} // bounds concurrent segmentations
	frames *lru.Cache[frameKey, cachedFrame]

	openOnce sync.Once
	openErr  error
	sam      *pipeline.SAM
	samMu    sync.Mutex // serialises the SAM decoder
	embeds   *segment.EmbeddingCache
	cl       *segment.Classical
}

// maxImageBytes bounds an uploaded image file (it is read into memory).
const maxImageBytes = 64 << 20

func newSegmenter(s *Server) *segmenter {
	return &segmenter{s: s, sem: make(chan struct{}, 2), frames: lru.New[frameKey, cachedFrame](8), embeds: segment.NewEmbeddingCache(8)}
}

func (g *segmenter) open() error {
	g.openOnce.Do(func() {
		g.sam, g.openErr = pipeline.OpenSAM(g.s.base)
		if g.openErr == nil && g.sam == nil {
			g.cl, g.openErr = segment.NewClassical(segment.DefaultClassicalOptions())
		}
	})
	return g.openErr
}

func (g *segmenter) name() string {
	if g.sam != nil {
		return g.sam.Name
	}
	return segment.ClassicalName
}

func (g *segmenter) close() error {
	if g.sam != nil {
		return g.sam.Close()
	}
	return nil
}

// segmentRequest is the body of POST /api/v1/segment (or its "request"
// part with an uploaded "image").
type segmentRequest struct {
	// Job or Input choose the video; Frame its frame (ignored for live
	// streams, whose latest snapshot is used).
	Job     string         `json:"job"`
	Input   string         `json:"input"`
	Frame   int            `json:"frame"`
	Options map[string]any `json:"options"`
	// One object: ID (default 1), Points and/or Box. Or several objects
	// under Prompts (the prompts shape; masks are not accepted here).
	ID      int               `json:"id"`
	Points  [][]float64       `json:"points"`
	Box     []float64         `json:"box"`
	Prompts *pipeline.Prompts `json:"prompts"`
	// Format is json (default: the document of `samtrack segment --out
	// X.json`, COCO RLE) or png (the mask; a palette PNG of the ids for
	// several objects).
	Format string `json:"format"`
}

// objects returns the request's object prompts.
func (r segmentRequest) objects() ([]pipeline.ObjectPrompt, *apiError) {
	var objs []pipeline.ObjectPrompt
	if len(r.Points) > 0 || r.Box != nil {
		id := r.ID
		if id == 0 {
			id = 1
		}
		objs = append(objs, pipeline.ObjectPrompt{ID: id, Frame: r.Frame, Points: r.Points, Box: r.Box})
	}
	if r.Prompts != nil {
		if r.Prompts.Mask != "" {
			return nil, errorf(http.StatusBadRequest, "segment: a mask is not a prompt to segment; give points or a box")
		}
		for i, o := range r.Prompts.Objects {
			if o.Mask != "" {
				return nil, errorf(http.StatusBadRequest, "segment: prompts.objects[%d] has a mask; give points or a box", i)
			}
			if o.ID == 0 {
				o.ID = len(objs) + 1
			}
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		return nil, errorf(http.StatusBadRequest, `segment: no prompt; give "points" and/or "box", or "prompts": {"objects": [...]}`)
	}
	if len(objs) > 64 {
		return nil, errorf(http.StatusBadRequest, "segment: %d objects in one request; at most 64", len(objs))
	}
	if err := (pipeline.Prompts{Objects: objs}).Validate(); err != nil {
		return nil, errorf(http.StatusBadRequest, "segment: %v", err)
	}
	seen := map[int]bool{}
	for _, o := range objs {
		if seen[o.ID] {
			return nil, errorf(http.StatusBadRequest, "segment: object id %d is given twice", o.ID)
		}
		seen[o.ID] = true
	}
	return objs, nil
}

type frameKey string

// frameSource says where a frame comes from.
type frameSource struct {
	source string
	live   bool
	frame  int
	cfg    config.Config
}

func (f frameSource) key() frameKey {
	v := f.cfg.Video
	if f.live {
		return frameKey(fmt.Sprintf("live|%s|%d", f.source, v.MaxSide))
	}
	return frameKey(fmt.Sprintf("file|%s|%d|%d|%d|%d", f.source, f.frame, v.MaxSide, v.Stride, v.Start))
}

// cachedFrame is a decoded frame, the frame after it (nil: none, or a
// live stream's) and the frame count of its input (0: unknown).
type cachedFrame struct {
	img    media.Image
	next   *media.Image
	frames int
}

// frame returns a decoded frame, from the cache when possible.
func (g *segmenter) frame(ctx context.Context, fs frameSource, refresh bool) (cachedFrame, bool, error) {
	k := fs.key()
	if !refresh {
		if f, ok := g.frames.Get(k); ok {
			g.s.metrics.FrameHits.Add(1)
			return f, true, nil
		}
	}
	g.s.metrics.FrameMisses.Add(1)
	var f cachedFrame
	var err error
	if fs.live {
		f.img, err = grabLive(ctx, fs.source, fs.cfg, g.s.guard.ProxyURL)
	} else {
		f, err = decodeFrame(ctx, fs.source, fs.frame, fs.cfg, g.s.guard.ProxyURL)
	}
	if err != nil {
		return f, false, err
	}
	g.frames.Put(k, f)
	return f, false, nil
}

// decodeFrame decodes frame n of a video with the job's video settings, in
// the input's own pixels, as job prompts are, and the frame after it, which
// a job reads ahead for a prompt (the classical segmenter uses the motion).
// FFmpeg fetches http(s) URLs through proxy, the address guard.
func decodeFrame(ctx context.Context, src string, n int, c config.Config, proxy string) (cachedFrame, error) {
	o := pipeline.FrameOptions(c, nil)
	o.HTTPProxy = proxy
	img, next, info, err := video.ReadFrameNext(ctx, src, n, o)
	if err == nil {
		return cachedFrame{img: img, next: next, frames: info.Frames}, nil
	}
	var fe *video.FrameError
	if !errors.As(err, &fe) {
		return cachedFrame{}, errorf(http.StatusBadRequest, "%v", err)
	}
	switch fe.Problem {
	case video.FrameNegative, video.FramePastEnd:
		return cachedFrame{}, errorf(http.StatusBadRequest, "%v", fe)
	case video.FrameSkipped:
		return cachedFrame{}, errorf(http.StatusBadRequest, "frame %d is not delivered with video.stride %d", n, c.Video.Stride)
	}
	return cachedFrame{}, fmt.Errorf("decode frame %d: %w", n, fe.Err)
}

// grabLive takes one frame of a live stream.
func grabLive(ctx context.Context, url string, c config.Config, proxy string) (media.Image, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	o := pipeline.LiveOptions(c, nil)
	o.MaxReconnects, o.Buffer, o.HTTPProxy = 1, 1, proxy
	l, err := video.OpenLive(ctx, url, o)
	if err != nil {
		return media.Image{}, errorf(http.StatusBadGateway, "%v", err)
	}
	defer l.Close()
	f, err := l.Next(ctx)
	if err != nil {
		return media.Image{}, errorf(http.StatusBadGateway, "read a frame of %s: %v", redact(url), err)
	}
	img := f.Image
	img.RGB = bytes.Clone(img.RGB) // the live source reuses its buffers
	return img, nil
}

// frameSourceOf resolves a request's job or input.
func (s *Server) frameSourceOf(jobID, input string, frame int, opts map[string]any) (frameSource, *apiError) {
	switch {
	case jobID != "" && input != "":
		return frameSource{}, errorf(http.StatusBadRequest, `give "job" or "input", not both`)
	case jobID != "":
		j, e := s.lookup(jobID)
		if e != nil {
			return frameSource{}, e
		}
		if len(opts) > 0 {
			return frameSource{}, errorf(http.StatusBadRequest, `"options" do not apply with "job": the job's own options are used`)
		}
		rec := j.snapshot()
		return frameSource{source: rec.Source, live: rec.Live, frame: frame, cfg: rec.Config}, nil
	case input != "":
		in, e := s.resolveInput(input, false)
		if e != nil {
			return frameSource{}, e
		}
		cfg, e := s.jobConfig(opts)
		if e != nil {
			return frameSource{}, e
		}
		return frameSource{source: in.Source, live: in.Live, frame: frame, cfg: cfg}, nil
	}
	return frameSource{}, errorf(http.StatusBadRequest, `give "job" (a job id) or "input" (a path, URL or upload:ID), or upload an "image"`)
}

func (s *Server) handleSegment(w http.ResponseWriter, r *http.Request) error {
	req, img, key, uploaded, err := s.readSegmentRequest(w, r)
	if err != nil {
		return err
	}
	objs, e := req.objects()
	if e != nil {
		return e
	}
	var fs frameSource
	if !uploaded {
		var e *apiError
		if fs, e = s.frameSourceOf(req.Job, req.Input, req.Frame, req.Options); e != nil {
			return e
		}
	}
	g := s.seg
	if err := g.open(); err != nil {
		return errorf(http.StatusInternalServerError, "open the segmenter: %v", err)
	}
	select {
	case g.sem <- struct{}{}:
	case <-r.Context().Done():
		return nil
	}
	defer func() { <-g.sem }()
	start := time.Now()
	cached := false
	var next *media.Image // the frame after, as a job reads it ahead
	if !uploaded {
		f, hit, err := g.frame(r.Context(), fs, false)
		if err != nil {
			return err
		}
		img, next, cached, key = f.img, f.next, hit, fs.key()
	}
	doc := segmentDoc{SegmentDoc: export.SegmentDoc{Image: export.SegmentImage{File: "upload", Width: img.W, Height: img.H}, Segmenter: g.name()}}
	if !uploaded {
		doc.Image.File = req.Input
		if req.Job != "" {
			doc.Image.File = "job:" + req.Job
		}
		if !fs.live {
			doc.Image.Frame = &req.Frame
		}
	}
	minArea := s.base.Track.MinArea // an uploaded image has no job options
	if !uploaded {
		minArea = fs.cfg.Track.MinArea
	}
	labels, embCached, err := g.segmentObjects(r.Context(), key, img, next, objs, minArea, &doc)
	if err != nil {
		return err
	}
	if g.sam != nil && len(objs) > 0 {
		cached = embCached
	}
	doc.Cached, doc.ElapsedMS = cached, time.Since(start).Milliseconds()
	w.Header().Set("X-Samtrack-Cached", strconv.FormatBool(cached))
	if req.Format == "png" {
		return writeSegmentPNG(w, labels, objs)
	}
	writeJSON(w, http.StatusOK, doc)
	return nil
}

// readSegmentRequest reads a /segment request: a JSON body, or a multipart
// upload (uploaded, with the picture in img and its cache key), and the
// answer's format (json, the default, or png; ?format= wins).
func (s *Server) readSegmentRequest(w http.ResponseWriter, r *http.Request) (req segmentRequest, img media.Image, key frameKey, uploaded bool, err error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		if req, img, key, err = s.readSegmentMultipart(w, r); err != nil {
			return req, img, key, false, err
		}
		uploaded = true
	} else {
		body, err := readBody(w, r, s.opts.MaxRequestBytes)
		if err != nil {
			return req, img, key, false, err
		}
		if e := decodeJSON(body, &req, "segment"); e != nil {
			return req, img, key, false, e
		}
	}
	if f := r.URL.Query().Get("format"); f != "" {
		req.Format = f
	}
	if req.Format == "" {
		req.Format = "json"
	}
	if req.Format != "json" && req.Format != "png" {
		return req, img, key, uploaded, errorf(http.StatusBadRequest, "format %q: want json or png", req.Format)
	}
	return req, img, key, uploaded, nil
}

// segmentObjects answers each object's prompt on img (with next, the frame
// after it, when known), adds its annotation
// (with a warning when its mask is doubtful: below minArea, or scored very
// low) to doc and paints it into the returned label map (later objects over
// earlier ones). embCached says whether the last prompt's SAM embedding
// came from the cache.
func (g *segmenter) segmentObjects(ctx context.Context, key frameKey, img media.Image, next *media.Image, objs []pipeline.ObjectPrompt, minArea int, doc *segmentDoc) (labels *mask.LabelMap, embCached bool, err error) {
	labels = mask.NewLabelMap(img.W, img.H)
	for _, o := range objs {
		res, hit, err := g.predict(ctx, key, img, next, o.Prompt())
		switch {
		case errors.Is(err, media.ErrBadPrompt):
			return nil, false, errorf(http.StatusBadRequest, "segment object %d: %v", o.ID, err)
		case err != nil: // the model or the runtime failed, not the request
			return nil, false, fmt.Errorf("segment object %d: %w", o.ID, err)
		}
		embCached = hit
		ann, err := export.NewSegmentAnnotation(o.ID, res.Mask, res.Score)
		if err != nil {
			return nil, false, err
		}
		ann.Warning = tracker.PromptWarning(ann.Area, minArea, res.Score)
		doc.Annotations = append(doc.Annotations, ann)
		labels.Paint(res.Mask, uint16(o.ID))
	}
	return labels, embCached, nil
}

// writeSegmentPNG answers /segment?format=png: one object's binary mask, or
// the palette label map of several.
func writeSegmentPNG(w http.ResponseWriter, labels *mask.LabelMap, objs []pipeline.ObjectPrompt) error {
	var buf bytes.Buffer
	var err error
	if len(objs) == 1 {
		err = mask.WriteBinaryPNG(&buf, labels.Object(uint16(objs[0].ID)))
	} else {
		err = mask.WritePalettePNG(&buf, labels)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
	return nil
}

// segmentDoc is the JSON answer of /segment: the document `samtrack segment
// --out X.json` writes, plus whether the frame (or its SAM embedding) came
// from the cache and how long the request took.
type segmentDoc struct {
	export.SegmentDoc
	Cached    bool  `json:"cached"`
	ElapsedMS int64 `json:"elapsed_ms"`
}

// predict segments one prompt on img (the classical segmenter also uses
// next, the frame after it, when known); with SAM the embedding comes from
// the cache when key was encoded before.
func (g *segmenter) predict(ctx context.Context, key frameKey, img media.Image, next *media.Image, p media.Prompt) (media.Result, bool, error) {
	if g.sam == nil {
		r, err := g.cl.SegmentNext(ctx, img, next, p)
		return r, false, err
	}
	emb, cached, err := g.embeds.EncodeCached(ctx, g.sam.Model, key, img)
	if err != nil {
		return media.Result{}, false, err
	}
	if cached {
		g.s.metrics.EmbedHits.Add(1)
	} else {
		g.s.metrics.EmbedMisses.Add(1)
	}
	opts := segment.DefaultPredictOptions()
	opts.Refine = g.s.base.SAM.Refine
	g.samMu.Lock()
	defer g.samMu.Unlock()
	r, err := segment.Predict(ctx, g.sam.Model, emb, p, opts)
	return r, cached, err
}

// readSegmentMultipart reads an uploaded "image" (PNG or JPEG) and the
// "request" JSON part.
func (s *Server) readSegmentMultipart(w http.ResponseWriter, r *http.Request) (segmentRequest, media.Image, frameKey, error) {
	var req segmentRequest
	var img media.Image
	var key frameKey
	mr, err := s.multipart(w, r)
	if err != nil {
		return req, img, key, err
	}
	gotImage := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return req, img, key, multipartErr(err)
		}
		switch part.FormName() {
		case "image":
			b, err := readPart(part, min(s.opts.MaxUploadBytes, maxImageBytes))
			if err != nil {
				return req, img, key, err
			}
			sum := sha256.Sum256(b)
			key = frameKey("image|" + hex.EncodeToString(sum[:]))
			if cached, ok := s.seg.frames.Get(key); ok {
				img = cached.img
				s.metrics.FrameHits.Add(1)
			} else {
				if img, err = decodeImage(b, s.base.Video.MaxPixels); err != nil {
					return req, img, key, err
				}
				s.metrics.FrameMisses.Add(1)
				s.seg.frames.Put(key, cachedFrame{img: img})
			}
			gotImage = true
		case "request":
			b, err := readPart(part, s.opts.MaxRequestBytes)
			if err != nil {
				return req, img, key, err
			}
			if e := decodeJSON(b, &req, `segment part "request"`); e != nil {
				return req, img, key, e
			}
		default:
			return req, img, key, errorf(http.StatusBadRequest, "multipart: unknown part %q; want image and request", part.FormName())
		}
	}
	if !gotImage {
		return req, img, key, errorf(http.StatusBadRequest, `multipart segment without an "image" part`)
	}
	if req.Job != "" || req.Input != "" {
		return req, img, key, errorf(http.StatusBadRequest, `an uploaded image takes no "job" or "input"`)
	}
	return req, img, key, nil
}

// decodeImage decodes an uploaded PNG or JPEG of at most maxPixels
// (video.max_pixels, checked from the header: a decompression bomb guard).
func decodeImage(b []byte, maxPixels int) (media.Image, error) {
	img, err := video.DecodeImage(b, maxPixels)
	var empty *video.EmptyImageError
	switch {
	case err == nil:
		return img, nil
	case errors.Is(err, video.ErrTooLarge):
		return img, errorf(http.StatusRequestEntityTooLarge, "%v", err)
	case errors.As(err, &empty):
		return img, errorf(http.StatusBadRequest, "%v", err)
	}
	return img, errorf(http.StatusBadRequest, "image: %v; send a PNG or JPEG", err)
}

// handleInputFrame returns a raw frame of an input or job as JPEG: what
// the user clicks on before segmenting (same cache as /segment).
func (s *Server) handleInputFrame(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	frame := 0
	if v := q.Get("frame"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "frame %q: want a frame number from 0", v)
		}
		frame = n
	}
	var opts map[string]any
	if v := q.Get("options"); v != "" {
		if e := decodeJSON([]byte(v), &opts, "options"); e != nil {
			return e
		}
	}
	fs, e := s.frameSourceOf(q.Get("job"), q.Get("input"), frame, opts)
	if e != nil {
		return e
	}
	select {
	case s.seg.sem <- struct{}{}:
	case <-r.Context().Done():
		return nil
	}
	f, cached, err := s.seg.frame(r.Context(), fs, q.Get("refresh") == "1")
	<-s.seg.sem
	if err != nil {
		return err
	}
	img := f.img
	jpg, err := streams.EncodeJPEG(img.W, img.H, img.RGB)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Width", strconv.Itoa(img.W))
	w.Header().Set("X-Frame-Height", strconv.Itoa(img.H))
	w.Header().Set("X-Frame-Count", strconv.Itoa(f.frames))
	w.Header().Set("X-Samtrack-Cached", strconv.FormatBool(cached))
	w.Write(jpg)
	return nil
}
