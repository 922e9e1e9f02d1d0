package rtsptest

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"samtrack/internal/testenv"
)

const catMP4 = "../../../shared/data/videos/cat.mp4"

func needVideo(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(catMP4); err != nil {
		testenv.Missing(t, "test video %s is missing (%v): it is shared data outside the repository", catMP4, err)
	}
}

// play connects a gortsplib client to url and counts the RTP packets of its
// H.264 media.
func play(t *testing.T, url string) (*gortsplib.Client, *atomic.Int64, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, nil, err
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Transport: &tcp}
	if err := c.Start(u.Scheme, u.Host); err != nil {
		return nil, nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	var h264 *format.H264
	medi := desc.FindFormat(&h264)
	if medi == nil {
		c.Close()
		return nil, nil, errors.New("no H.264 media in the description")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		c.Close()
		return nil, nil, err
	}
	var n atomic.Int64
	c.OnPacketRTP(medi, h264, func(*rtp.Packet) { n.Add(1) })
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, &n, nil
}

func TestServerRelaysPublisherToReaders(t *testing.T) {
	needVideo(t)
	if _, err := StartPublisher(context.Background(), "/nonexistent.mp4", "rtsp://127.0.0.1:1/x"); err == nil {
		t.Fatal("StartPublisher accepted a missing file")
	} else if errors.Is(err, ErrNoFFmpeg) {
		testenv.Missing(t, "%v", err)
	}
	goroutines := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("server listens on %s, want 127.0.0.1 only", s.Addr())
	}
	url := s.URL("/cam")
	if url != "rtsp://"+s.Addr()+"/cam" || s.URL("cam") != url {
		t.Fatalf("URL(/cam) = %s", url)
	}

	// Nothing published yet: DESCRIBE fails with 404.
	if c, _, err := play(t, url); err == nil {
		c.Close()
		t.Fatal("reading an unpublished path succeeded")
	} else if !strings.Contains(err.Error(), "404") {
		t.Fatalf("reading an unpublished path: %v, want a 404", err)
	}

	p, err := StartPublisher(ctx, catMP4, url)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if err := s.WaitPublishing(ctx, "cam", true); err != nil {
		t.Fatalf("%v (ffmpeg: %v)", err, p.Err())
	}
	if !s.Publishing("/cam") || s.Publishing("other") {
		t.Fatal("Publishing disagrees with WaitPublishing")
	}

	var readers []*gortsplib.Client
	var counts []*atomic.Int64
	for range 2 {
		c, n, err := play(t, url)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readers = append(readers, c)
		counts = append(counts, n)
	}
	if got := s.Readers("cam"); got != 2 {
		t.Errorf("Readers = %d, want 2", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (counts[0].Load() < 30 || counts[1].Load() < 30) {
		time.Sleep(50 * time.Millisecond)
	}
	if counts[0].Load() < 30 || counts[1].Load() < 30 {
		t.Fatalf("readers got %d and %d RTP packets in 5 s, want >= 30 each", counts[0].Load(), counts[1].Load())
	}

	// The publisher leaves: readers are disconnected, the path is gone.
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.WaitPublishing(ctx, "cam", false); err != nil {
		t.Fatal(err)
	}
	for i, c := range readers {
		werr := make(chan error, 1)
		go func() { werr <- c.Wait() }()
		select {
		case <-werr:
		case <-time.After(5 * time.Second):
			t.Fatalf("reader %d still connected 5 s after the publisher left", i)
		}
		c.Close()
	}
	if c, _, err := play(t, url); err == nil {
		c.Close()
		t.Fatal("path still readable after the publisher left")
	}

	// Closing via the context; no goroutine is left behind.
	cancel()
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && runtime.NumGoroutine() > goroutines {
		time.Sleep(20 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("goroutines: %d before, %d after closing", goroutines, g)
	}
	if err := s.WaitPublishing(context.Background(), "cam", true); err == nil {
		t.Error("WaitPublishing on a closed server returned nil")
	}
}

func TestPublisherKillAndPause(t *testing.T) {
	needVideo(t)
	s := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := StartPublisher(ctx, catMP4, s.URL("cam"))
	if errors.Is(err, ErrNoFFmpeg) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitPublishing(ctx, "cam", true); err != nil {
		t.Fatalf("%v (ffmpeg: %v)", err, p.Err())
	}
	c, n, err := play(t, s.URL("cam"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	before := n.Load()
	time.Sleep(700 * time.Millisecond)
	if got := n.Load() - before; got != 0 {
		t.Errorf("%d packets arrived while the publisher was paused", got)
	}
	if !s.Publishing("cam") {
		t.Error("a paused publisher should keep its path")
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if n.Load() == before {
		t.Error("no packet after Resume")
	}
	p.Kill()
	if err := s.WaitPublishing(ctx, "cam", false); err != nil {
		t.Fatalf("path still published after Kill: %v", err)
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err after Kill = %v, want nil (expected exit)", err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop after Kill: %v", err)
	}
}
