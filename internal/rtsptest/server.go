// Package rtsptest owns the real RTSP endpoints that samtrack's tests stream
// from: an in-process RTSP server (gortsplib) on 127.0.0.1 that relays what a
// publisher records on a path to every reader of that path, and a helper that
// runs the ffmpeg binary as such a publisher, looping a video file in real
// time. It is a normal package so that the tests of several packages can use
// it, but it is meant for tests only: everything listens on the loopback
// interface, and every loop in it is bounded in time.
package rtsptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// Server is an RTSP server on 127.0.0.1 (TCP transport only) that relays a
// stream published on a path (ANNOUNCE/RECORD, e.g. by ffmpeg -f rtsp) to
// the readers of that path (DESCRIBE/SETUP/PLAY). When the publisher goes
// away, the path's readers are disconnected and DESCRIBE answers 404 until a
// publisher returns, as a real relay (mediamtx) does. Safe for concurrent
// use.
type Server struct {
	srv  *gortsplib.Server
	addr string // host:port actually bound

	mu      sync.Mutex
	paths   map[string]*relay // key: path without the leading "/"
	changed chan struct{}     // closed and replaced whenever paths change
	closed  bool
	stopCtx func() bool // unregisters the AfterFunc on the Start ctx
}

// relay is one published path.
type relay struct {
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
	recording bool // RECORD received: packets flow
	readers   int
}

// Start starts a server on a free port of 127.0.0.1. Cancelling ctx closes
// it, as does Close.
func Start(ctx context.Context) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rtsptest: start server: %w", err)
	}
	s := &Server{paths: map[string]*relay{}, changed: make(chan struct{})}
	var bound string
	s.srv = &gortsplib.Server{
		Handler:     (*handler)(s),
		RTSPAddress: "127.0.0.1:0",
		// Short enough that a stalled publisher is noticed in tests.
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		Listen: func(network, address string) (net.Listener, error) {
			// Always the loopback interface, whatever gortsplib asks.
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err == nil {
				bound = ln.Addr().String()
			}
			return ln, err
		},
	}
	if err := s.srv.Start(); err != nil {
		return nil, fmt.Errorf("rtsptest: start RTSP server on 127.0.0.1: %w", err)
	}
	s.addr = bound
	s.stopCtx = context.AfterFunc(ctx, s.Close)
	return s, nil
}

// New starts a server for a test and closes it when the test ends; it fails
// the test if the server cannot start.
func New(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL returns the rtsp:// URL of path on this server ("cam" or "/cam").
func (s *Server) URL(path string) string {
	return "rtsp://" + s.addr + "/" + strings.TrimPrefix(path, "/")
}

// Close disconnects every client and stops the server. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	if s.stopCtx != nil {
		s.stopCtx()
	}
	s.srv.Close() // closes every session; OnSessionClose closes the streams
	s.mu.Lock()
	for p, r := range s.paths {
		r.stream.Close()
		delete(s.paths, p)
	}
	s.notifyLocked()
	s.mu.Unlock()
}

// Publishing reports whether a publisher is recording on path.
func (s *Server) Publishing(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.paths[key(path)]
	return r != nil && r.recording
}

// Readers returns how many reader sessions are set up on path.
func (s *Server) Readers(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.paths[key(path)]; r != nil {
		return r.readers
	}
	return 0
}

// WaitPublishing blocks until a publisher is recording on path (want true)
// or until none is (want false), or until ctx is done.
func (s *Server) WaitPublishing(ctx context.Context, path string, want bool) error {
	for {
		s.mu.Lock()
		r := s.paths[key(path)]
		ok := (r != nil && r.recording) == want
		ch, closed := s.changed, s.closed
		s.mu.Unlock()
		if ok {
			return nil
		}
		if closed {
			return fmt.Errorf("rtsptest: wait for %s (publishing=%v): %w", s.URL(path), want, errClosed)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("rtsptest: wait for %s (publishing=%v): %w", s.URL(path), want, ctx.Err())
		}
	}
}

var errClosed = errors.New("server closed")

func key(path string) string { return strings.Trim(path, "/") }

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// handler implements the gortsplib server callbacks on a Server.
type handler Server

func (h *handler) s() *Server { return (*Server)(h) }

// OnSessionClose drops the path of a publisher that went away, which
// disconnects its readers.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s := h.s()
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, r := range s.paths {
		if r.publisher == ctx.Session {
			r.stream.Close()
			delete(s.paths, p)
			s.notifyLocked()
		}
	}
	if st := ctx.Session.SetuppedStream(); st != nil {
		for _, r := range s.paths {
			if r.stream == st && r.readers > 0 {
				r.readers--
			}
		}
	}
}

// OnDescribe serves the description of a path being published.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s := h.s()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.paths[key(ctx.Path)]
	if r == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, r.stream, nil
}

// OnAnnounce starts a path; an earlier publisher of the same path is
// disconnected.
func (h *handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	s := h.s()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(ctx.Path)
	if old := s.paths[k]; old != nil {
		old.stream.Close()
		old.publisher.Close()
	}
	s.paths[k] = &relay{
		stream:    gortsplib.NewServerStream(s.srv, ctx.Description),
		publisher: ctx.Session,
	}
	s.notifyLocked()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup accepts a publisher's tracks and binds readers to the path's
// stream. Only the TCP transport is offered (no UDP listener is opened).
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s := h.s()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ctx.Session.State() {
	case gortsplib.ServerSessionStatePreRecord:
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	r := s.paths[key(ctx.Path)]
	if r == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	if ctx.Session.State() == gortsplib.ServerSessionStateInitial {
		r.readers++
	}
	return &base.Response{StatusCode: base.StatusOK}, r.stream, nil
}

// OnPlay lets a reader start.
func (h *handler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord routes the publisher's RTP packets to the path's readers.
func (h *handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s := h.s()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.paths[key(ctx.Path)]
	if r == nil || r.publisher != ctx.Session {
		return &base.Response{StatusCode: base.StatusBadRequest}, fmt.Errorf("rtsptest: RECORD on %s without ANNOUNCE", ctx.Path)
	}
	stream := r.stream
	ctx.Session.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		_ = stream.WritePacketRTP(medi, pkt) // fails only once the stream is closed
	})
	r.recording = true
	s.notifyLocked()
	return &base.Response{StatusCode: base.StatusOK}, nil
}
