package service

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"samtrack/export"
	"samtrack/internal/streams"
	"samtrack/pipeline"
)

// acquireStream counts an open stream; false when MaxStreams are open.
func (s *Server) acquireStream() bool {
	if s.streams.Add(1) > int64(s.opts.MaxStreams) {
		s.streams.Add(-1)
		return false
	}
	return true
}

func (s *Server) releaseStream() { s.streams.Add(-1) }

// handleEvents streams a job's events as Server-Sent Events: the history
// after Last-Event-ID (or all of it), then the events as they come, until
// the job ends, the client leaves or the server shuts down.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	var last uint64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		last, _ = strconv.ParseUint(v, 10, 64)
	} else if v := r.URL.Query().Get("last_event_id"); v != "" {
		last, _ = strconv.ParseUint(v, 10, 64)
	}
	if !s.acquireStream() {
		return errorf(http.StatusServiceUnavailable, "too many open streams (%d); retry later", s.opts.MaxStreams)
	}
	defer s.releaseStream()
	past, ch := j.events.Subscribe(last)
	defer j.events.Unsubscribe(ch)
	finished := func() bool { return j.snapshot().State.final() }
	if len(past) == 0 && last > 0 && finished() {
		// Nothing more will come: 204 tells EventSource not to reconnect.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	streams.WriteEvents(w, r, s.ctx.Done(), past, ch, finished)
	return nil
}

// handleMJPEG streams the job's overlay frames as multipart/x-mixed-replace
// JPEGs, at most ?fps=N a second (default 10, at most 30), until the job
// ends, the client leaves or the server shuts down.
func (s *Server) handleMJPEG(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	fps := 10.0
	if v := r.URL.Query().Get("fps"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 30 {
			return errorf(http.StatusBadRequest, "fps %q: want a number in (0, 30]", v)
		}
		fps = f
	}
	if !s.acquireStream() {
		return errorf(http.StatusServiceUnavailable, "too many open streams (%d); retry later", s.opts.MaxStreams)
	}
	defer s.releaseStream()
	interval := time.Duration(float64(time.Second) / fps)
	streams.WriteMJPEG(w, r, s.ctx.Done(), j.latest, interval, func() bool { return j.snapshot().State.final() })
	return nil
}

// resultFiles are the result files of a run, besides masks/.
var resultFiles = []string{export.ManifestFile, export.AnnotationsFile, export.TracksFile, export.OverlayFile, pipeline.GapsFile}

var maskName = regexp.MustCompile(`^[^.][^/]*\.png$`)

// handleResults streams the job's results as a zip: masks/*.png,
// annotations.json, tracks.json, overlay.mp4 (once the run has ended),
// manifest.json and, for live jobs, gaps.json. While the job runs it is a
// consistent snapshot of the frames committed so far.
func (s *Server) handleResults(w http.ResponseWriter, r *http.Request) error {
	j, e := s.lookup(r.PathValue("id"))
	if e != nil {
		return e
	}
	rec := j.snapshot()
	out := s.outDir(rec.ID)
	man, err := readManifest(out)
	if err != nil {
		return errorf(http.StatusConflict, "job %s has no results yet (state %s)", rec.ID, rec.State)
	}
	var ann []byte
	if !rec.State.final() {
		if ann, err = committedAnnotations(out); err != nil {
			return errorf(http.StatusServiceUnavailable, "results are being rewritten; retry: %v", err)
		}
	}
	masks, err := os.ReadDir(filepath.Join(out, export.MasksDir))
	if err != nil {
		return fmt.Errorf("results of job %s: %w", rec.ID, err)
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="samtrack-%s.zip"`, rec.ID))
	w.Header().Set("X-Samtrack-Complete", strconv.FormatBool(man.Complete))
	w.Header().Set("X-Samtrack-Frames", strconv.Itoa(man.FramesDone))
	zw := zip.NewWriter(w)
	add := func(name string, method uint16, src io.Reader) error {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: time.Now()})
		if err != nil {
			return err
		}
		_, err = io.Copy(fw, src)
		return err
	}
	for _, name := range resultFiles {
		if name == export.AnnotationsFile && ann != nil {
			if err := add(name, zip.Deflate, bytes.NewReader(ann)); err != nil {
				return nil // the client went away: nothing more can be said
			}
			continue
		}
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			continue
		}
		method := zip.Deflate
		if strings.HasSuffix(name, ".mp4") {
			method = zip.Store
		}
		err = add(name, method, f)
		f.Close()
		if err != nil {
			return nil
		}
	}
	names := make([]string, 0, len(masks))
	for _, m := range masks {
		if m.Type().IsRegular() && maskName.MatchString(m.Name()) {
			names = append(names, m.Name())
		}
	}
	slices.Sort(names)
	for _, name := range names {
		f, err := os.Open(filepath.Join(out, export.MasksDir, name))
		if err != nil {
			continue
		}
		err = add(export.MasksDir+"/"+name, zip.Store, f)
		f.Close()
		if err != nil {
			return nil
		}
	}
	zw.Close()
	return nil
}

// committedAnnotations rebuilds annotations.json as it stood after the last
// committed frame of a running job (the writer appends in place, so the
// file itself may hold half a frame).
func committedAnnotations(out string) ([]byte, error) {
	for attempt := 0; attempt < 5; attempt++ {
		m, err := readManifest(out)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(out, export.AnnotationsFile))
		if err != nil {
			return nil, err
		}
		st := m.Annotations
		layout := []byte(fmt.Sprintf(`"samtrack_layout":%d,`, st.Layout))
		layoutEnd := []byte(fmt.Sprintf(`"samtrack_layout":%d}`, st.Layout))
		head := b[:min(len(b), 256)]
		if (!bytes.Contains(head, layout) && !bytes.Contains(head, layoutEnd)) || st.AnnotationsEnd > int64(len(b)) || st.ImagesEnd >= st.GapEnd {
			time.Sleep(20 * time.Millisecond) // the file was rebuilt under us
			continue
		}
		var doc bytes.Buffer
		doc.Write(b[:st.ImagesEnd])
		doc.WriteByte(']')
		doc.Write(b[st.GapEnd:st.AnnotationsEnd])
		doc.WriteString("]}\n")
		return doc.Bytes(), nil
	}
	return nil, fmt.Errorf("annotations.json changed layout during 5 reads")
}
