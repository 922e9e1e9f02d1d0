package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"time"
)

// routes builds the handler: every API route, behind the token check and
// the request metrics.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.apiHandler(h))
	}
	api("POST /api/v1/jobs", s.handleCreateJob)
	api("GET /api/v1/jobs", s.handleListJobs)
	api("GET /api/v1/jobs/{id}", s.handleGetJob)
	api("DELETE /api/v1/jobs/{id}", s.handleDeleteJob)
	api("POST /api/v1/jobs/{id}/cancel", s.handleCancelJob)
	api("POST /api/v1/jobs/{id}/retry", s.handleRetryJob)
	api("POST /api/v1/jobs/{id}/prompts", s.handlePrompts)
	api("GET /api/v1/jobs/{id}/results.zip", s.handleResults)
	api("POST /api/v1/jobs/{id}/remove", s.handleRemove)
	api("GET /api/v1/jobs/{id}/removed.mp4", s.handleRemoved)
	api("GET /api/v1/jobs/{id}/events", s.handleEvents)
	api("GET /api/v1/jobs/{id}/frame.jpg", s.handleJobFrame)
	api("GET /api/v1/jobs/{id}/live.mjpeg", s.handleMJPEG)
	api("POST /api/v1/segment", s.handleSegment)
	api("GET /api/v1/frame.jpg", s.handleInputFrame)
	api("GET /api/v1/inputs", s.handleInputs)
	api("POST /api/v1/uploads", s.handleUpload)
	api("DELETE /api/v1/uploads/{id}", s.handleDeleteUpload)
	api("/api/", func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "no API route %s %s; see docs/API.md", r.Method, r.URL.Path)
	})
	api("GET /metrics", s.handleMetrics)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	if s.opts.Web != nil {
		mux.Handle("/", s.opts.Web)
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, errorf(http.StatusNotFound, "not found; the API is under /api/v1 (docs/API.md)"))
		})
	}
	return s.observe(mux)
}

// apiHandler adapts a handler that returns an error, checking the token
// first.
func (s *Server) apiHandler(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := s.checkOrigin(r); e != nil {
			writeError(w, e)
			return
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="samtrack"`)
			writeError(w, errorf(http.StatusUnauthorized, "missing or wrong API token: send \"Authorization: Bearer TOKEN\""))
			return
		}
		if err := h(w, r); err != nil {
			var ae *apiError
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &ae):
			case errors.As(err, &mbe):
				ae = errorf(http.StatusRequestEntityTooLarge, "request body over the %d-byte limit", mbe.Limit)
			default:
				s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
				ae = errorf(http.StatusInternalServerError, "%v", err)
			}
			writeError(w, &apiError{status: ae.status, msg: s.public.String(ae.msg)})
		}
	})
}

// statusWriter records the status code; it passes Flush through for
// streams.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe counts requests by route and status and turns panics into 500s.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if !sw.wrote {
					writeError(sw, errorf(http.StatusInternalServerError, "internal error"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "other"
			}
			s.metrics.Request(route, sw.status, time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	b, _ := json.Marshal(map[string]any{"error": e.msg, "status": e.status})
	w.Write(append(b, '\n'))
}

// readBody reads a request body up to limit bytes (413 beyond it).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes is over the %d-byte limit", r.ContentLength, limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errorf(http.StatusRequestEntityTooLarge, "request body over the %d-byte limit", limit)
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "read request body: %v", err)
	}
	return b, nil
}

// decodeJSON decodes one JSON object strictly into v, with an error that
// names the problem and where it is.
func decodeJSON(data []byte, v any, what string) *apiError {
	if len(bytes.TrimSpace(data)) == 0 {
		return errorf(http.StatusBadRequest, "%s: empty body; send a JSON object", what)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "%s: %s", what, describeJSONError(data, err))
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "%s: malformed JSON: trailing data after the object at byte %d", what, dec.InputOffset())
	}
	return nil
}

func describeJSONError(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return fmt.Sprintf("malformed JSON at line %d, column %d (byte %d): %v", line, col, se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: the body ends in the middle of a value"
	case errors.As(err, &te):
		want := te.Type.String()
		switch te.Type.Kind() {
		case reflect.Struct, reflect.Map:
			want = "a JSON object"
		case reflect.Slice, reflect.Array:
			want = "a JSON array"
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "true or false"
		case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16, reflect.Uint64, reflect.Float64, reflect.Float32:
			want = "a number"
		}
		if te.Field == "" {
			return fmt.Sprintf("the body must be %s, not a JSON %s", want, te.Value)
		}
		return fmt.Sprintf("field %q: want %s, got a JSON %s", te.Field, want, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ") + " (see docs/API.md for the fields)"
	}
	return "malformed JSON: " + err.Error()
}

func position(data []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off-1 && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	status := "ok"
	code := http.StatusOK
	if s.closed.Load() {
		status, code = "shutting down", http.StatusServiceUnavailable
	}
	s.mu.Lock()
	q, run := s.queue.Len(), s.running
	if s.cluster != nil {
		run, _ = s.clusterRunningLocked()
	}
	s.mu.Unlock()
	writeJSON(w, code, map[string]any{"status": status, "queued": q, "running": run})
}
