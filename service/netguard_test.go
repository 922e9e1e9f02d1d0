package service

import (
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const sampleMP4 = "../testdata/sample.mp4"

// videoServer serves the bundled sample on addr ("127.0.0.1:0") and counts
// its requests.
func videoServer(t *testing.T, addr string, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, sampleMP4) }
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v (the tests need the loopback network 127.0.0.0/8)", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

func errorOf(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return e.Error
}

// TestURLGuard: URL inputs that lead to the server's own networks are
// refused with 403 when the job is created, whether the address is
// written out, comes from DNS or from a redirect, and FFmpeg's own fetches
// are checked when they connect; --allow-net lets chosen networks in.
func TestURLGuard(t *testing.T) {
	const secret = "SECRET-REMOTE-ANSWER"
	target, hits := videoServer(t, "127.0.0.1:0", nil)
	redirect := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target.URL+"/sample.mp4")
		w.WriteHeader(http.StatusFound)
		w.Write([]byte(secret))
	}
	// The redirector lives on 127.0.0.2, which the server allows; its
	// target on 127.0.0.1 is not allowed.
	redir, _ := videoServer(t, "127.0.0.2:0", redirect)
	// This one serves the file to the check at creation, then redirects
	// FFmpeg's requests to 127.0.0.1: it changes its answer after the
	// check, as DNS rebinding does.
	var first atomic.Bool
	turncoat, _ := videoServer(t, "127.0.0.2:0", func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			http.ServeFile(w, r, sampleMP4)
			return
		}
		redirect(w, r)
	})
	ts := startServer(t, Options{AllowNets: []string{"127.0.0.2"}})
	job := func(input string) map[string]any {
		return pointJob(input, 150, 120, map[string]any{"video.max_frames": 3, "track.overlay": false})
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(target.URL, "http://"))

	refused := []struct{ name, url, addr string }{
		{"the server's own metrics", ts.url + "/metrics", "127.0.0.1"},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254"},
		{"IPv6 loopback ssh", "http://[::1]:22/", "::1"},
		{"a name that resolves to loopback", "http://localhost:" + port + "/sample.mp4", "127.0.0.1"},
		{"a redirect to loopback", redir.URL + "/sample.mp4", "127.0.0.1"},
		{"rtsp to loopback", "rtsp://127.0.0.1:" + port + "/cam", "127.0.0.1"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, body := ts.do("POST", "/api/v1/jobs", job(tc.url))
			msg := errorOf(t, body)
			if code != http.StatusForbidden {
				t.Fatalf("%s: %d %s; want 403", tc.url, code, body)
			}
			if !strings.Contains(msg, tc.addr) || !strings.Contains(msg, "--allow-net") {
				t.Errorf("the refusal does not name the address %s and --allow-net: %s", tc.addr, msg)
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "samtrack_") {
				t.Errorf("the refusal echoes what the remote answered: %s", msg)
			}
			t.Logf("%v: %s", time.Since(start).Round(time.Millisecond), msg)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the refused target on 127.0.0.1 was requested %d times", n)
	}

	t.Run("an answer that changes after the check", func(t *testing.T) {
		id := ts.createJob(job(turncoat.URL + "/sample.mp4"))
		v := ts.waitJob(id, 60*time.Second, "the job to end", finished)
		if v.State != StateFailed {
			t.Fatalf("state %s, %d frames; want failed: FFmpeg followed the redirect to 127.0.0.1", v.State, v.FramesDone)
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("FFmpeg reached the refused 127.0.0.1 target %d times", n)
		}
		if strings.Contains(v.Error, secret) {
			t.Errorf("the job error echoes the remote answer: %s", v.Error)
		}
		t.Logf("job error: %s", v.Error)
	})

	// https goes through the guard's CONNECT tunnel (FFmpeg does not verify
	// certificates by default, so a test certificate serves).
	var tlsHits atomic.Int32
	tlsTarget := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tlsHits.Add(1)
		http.ServeFile(w, r, sampleMP4)
	}))
	// The creation check verifies certificates and refuses the test one:
	// keep that handshake error out of the test output.
	tlsTarget.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsTarget.StartTLS()
	t.Cleanup(tlsTarget.Close)
	code, body := ts.do("POST", "/api/v1/jobs", job(tlsTarget.URL+"/sample.mp4"))
	if code != http.StatusForbidden || tlsHits.Load() != 0 {
		t.Errorf("https to 127.0.0.1: %d %s, %d requests; want 403 and none", code, body, tlsHits.Load())
	}

	t.Run("allow-net 127.0.0.0/8", func(t *testing.T) {
		open := startServer(t, Options{AllowNets: []string{"127.0.0.0/8"}})
		for _, u := range []string{target.URL + "/sample.mp4", "http://localhost:" + port + "/sample.mp4", redir.URL + "/sample.mp4", tlsTarget.URL + "/sample.mp4"} {
			counter := hits
			if strings.HasPrefix(u, "https:") {
				counter = &tlsHits
			}
			before := counter.Load()
			id := open.createJob(job(u))
			v := open.waitJob(id, 120*time.Second, "the job to end", finished)
			if v.State != StateDone || v.FramesDone != 3 {
				t.Errorf("%s: state %s, %d frames, error %q; want done with 3 frames", u, v.State, v.FramesDone, v.Error)
			}
			if counter.Load() == before {
				t.Errorf("%s: the video server was never asked", u)
			}
		}
	})
}

// TestAllowNetOption: --allow-net takes networks and addresses and names
// a bad value.
func TestAllowNetOption(t *testing.T) {
	for _, tc := range []struct {
		in []string
		ok bool
	}{
		{[]string{"10.0.0.0/8", "192.168.1.20", "fd00::/8"}, true},
		{[]string{"10.0.0.0/33"}, false},
		{[]string{"camera.local"}, false},
	} {
		_, err := New(Options{DataDir: t.TempDir(), AllowNets: tc.in, Logger: quietLogger(), Environ: []string{}})
		if (err == nil) != tc.ok {
			t.Errorf("AllowNets %v: err %v", tc.in, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--allow-net") {
			t.Errorf("AllowNets %v: %v does not name --allow-net", tc.in, err)
		}
	}
}
