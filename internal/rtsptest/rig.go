package rtsptest

import (
	"context"
	"testing"
	"time"
)

// Rig is a test camera: a Server with a Publisher looping one file on the
// path "cam", which a test can stop and restart to simulate a dropped
// stream. It is closed with the test.
type Rig struct {
	// URL is the stream's rtsp:// address.
	URL  string
	tb   testing.TB
	srv  *Server
	pub  *Publisher
	file string
	wait time.Duration
}

// NewRig starts a server and publishes file on it, returning once the
// stream is live; wait bounds each wait for the stream to appear or go.
func NewRig(tb testing.TB, file string, wait time.Duration) *Rig {
	tb.Helper()
	r := &Rig{tb: tb, srv: New(tb), file: file, wait: wait}
	r.URL = r.srv.URL("cam")
	r.Start()
	tb.Cleanup(func() {
		if r.pub != nil {
			r.pub.Stop()
		}
	})
	return r
}

// Publisher is the running publisher, nil while stopped.
func (r *Rig) Publisher() *Publisher { return r.pub }

// Start publishes and returns the time the stream became live.
func (r *Rig) Start() time.Time {
	r.tb.Helper()
	p, err := StartPublisher(context.Background(), r.file, r.URL)
	if err != nil {
		r.tb.Fatal(err)
	}
	r.pub = p
	ctx, cancel := context.WithTimeout(context.Background(), r.wait)
	defer cancel()
	if err := r.srv.WaitPublishing(ctx, "cam", true); err != nil {
		r.tb.Fatalf("%v (ffmpeg: %v)", err, p.Err())
	}
	return time.Now()
}

// Stop ends the publisher gracefully and returns once the stream is gone.
func (r *Rig) Stop() {
	r.tb.Helper()
	if err := r.pub.Stop(); err != nil {
		r.tb.Fatalf("the publisher failed on its own: %v", err)
	}
	r.pub = nil
	ctx, cancel := context.WithTimeout(context.Background(), r.wait)
	defer cancel()
	if err := r.srv.WaitPublishing(ctx, "cam", false); err != nil {
		r.tb.Fatal(err)
	}
}
