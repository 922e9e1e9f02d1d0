package video

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"samtrack/internal/rtsptest"
	"samtrack/media"
)

const (
	catW, catH    = 568, 320
	catFPS        = 30000.0 / 1001
	frameInterval = time.Second * 1001 / 30000
)

// newLiveRig is the in-process RTSP server with an ffmpeg publisher
// looping cat.mp4 on path "cam".
func newLiveRig(t *testing.T) *rtsptest.Rig {
	t.Helper()
	need(t, catMP4)
	ffmpegBin(t)
	return rtsptest.NewRig(t, catMP4, 10*time.Second)
}

// events records LiveEvents.
type events struct {
	mu  sync.Mutex
	evs []LiveEvent
}

func (e *events) add(ev LiveEvent) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) count(k LiveEventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.evs {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledGoroutines waits up to 3 s for the goroutine count to come down to
// at most want (transient goroutines of closed connections ending) and
// returns it.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	waitFor(3*time.Second, func() bool { n = runtime.NumGoroutine(); return n <= want })
	return n
}

// stableGoroutines returns the goroutine count once it has not changed for
// 300 ms (at most 3 s): the RTSP server starts a publisher's goroutines
// asynchronously after RECORD.
func stableGoroutines() int {
	n, since := runtime.NumGoroutine(), time.Now()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if m := runtime.NumGoroutine(); m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= 300*time.Millisecond {
			break
		}
	}
	return n
}

// goroutineDump returns the stacks of every goroutine, for a failure
// message.
func goroutineDump() string {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	return b.String()
}

func settledRSS(t testing.TB) int {
	runtime.GC()
	debug.FreeOSMemory()
	return rssKB(t)
}

// TestLiveDecode: frames from an RTSP server arrive at the stream's rate and
// size; Close leaves no goroutine behind.
func TestLiveDecode(t *testing.T) {
	r := newLiveRig(t)
	base := stableGoroutines()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ev events
	l, err := OpenLive(ctx, r.URL, LiveOptions{OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	info := l.Info()
	if info.Width != catW || info.Height != catH || info.Kind != KindURL || info.Codec != "h264" {
		t.Errorf("Info = %+v, want %dx%d h264 url", info, catW, catH)
	}
	if ev.count(LiveConnected) != 1 {
		t.Errorf("%d Connected events, want 1", ev.count(LiveConnected))
	}

	const warm, window = time.Second, 3 * time.Second
	t0 := time.Now()
	var inWindow, total int
	prev := media.Frame{Index: -1, PTS: -1}
	var varied bool
	for time.Since(t0) < warm+window {
		f, err := l.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total++
		if time.Since(t0) >= warm {
			inWindow++
		}
		if f.W != catW || f.H != catH || len(f.RGB) != catW*catH*3 {
			t.Fatalf("frame %d is %dx%d with %d bytes, want %dx%d", f.Index, f.W, f.H, len(f.RGB), catW, catH)
		}
		if f.Index <= prev.Index || f.PTS < prev.PTS {
			t.Fatalf("frame %d (PTS %v) after frame %d (PTS %v): not increasing", f.Index, f.PTS, prev.Index, prev.PTS)
		}
		if !varied {
			for _, b := range f.RGB[:len(f.RGB)/2] {
				if b != f.RGB[0] {
					varied = true
					break
				}
			}
		}
		if prev.Index >= 0 {
			l.Recycle(prev)
		}
		prev = f
	}
	fps := float64(inWindow) / window.Seconds()
	st := l.Stats()
	t.Logf("%.1f fps delivered over %v (stream %.2f fps); stats %+v", fps, window, catFPS, st)
	if fps < 0.75*catFPS || fps > 1.25*catFPS {
		t.Errorf("delivered %.1f fps, want about %.1f", fps, catFPS)
	}
	if !varied {
		t.Error("every frame is a flat colour: not decoded")
	}
	if st.State != LiveStreaming || st.Delivered != total || st.Decoded != st.Delivered+st.Dropped+st.Queue {
		t.Errorf("stats %+v inconsistent with %d frames read", st, total)
	}
	if st.Gaps != 0 || st.Reconnects != 0 || len(l.Gaps()) != 0 {
		t.Errorf("gaps on a steady stream: %+v", l.Gaps())
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
	if g := settledGoroutines(base); g > base {
		t.Errorf("goroutines: %d before OpenLive, %d after Close:\n%s", base, g, goroutineDump())
	}
	if ev.count(LiveEnded) != 1 {
		t.Errorf("%d Ended events after Close, want 1", ev.count(LiveEnded))
	}
}

// delivered is a frame as the consumer saw it.
type delivered struct {
	index int
	pts   time.Duration
	at    time.Time
}

// TestLiveReconnect: the publisher goes away 5 times (once for 5 s, then
// for 2 s); each time the source reconnects within 10 s of the stream's
// return, records the gap and keeps Frame.Index increasing; goroutines and
// RSS stay flat over the cycles.
func TestLiveReconnect(t *testing.T) {
	if testing.Short() {
		t.Skip("about 35 s of real-time streaming; skipped with -short")
	}
	r := newLiveRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var ev events
	l, err := OpenLive(ctx, r.URL, LiveOptions{OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	var mu sync.Mutex
	var got []delivered
	consumerDone := make(chan error, 1)
	go func() {
		for {
			f, err := l.Next(ctx)
			if err != nil {
				consumerDone <- err
				return
			}
			mu.Lock()
			got = append(got, delivered{f.Index, f.PTS, time.Now()})
			mu.Unlock()
			l.Recycle(f)
		}
	}()
	frames := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }

	if !waitFor(5*time.Second, func() bool { return frames() > 30 }) {
		t.Fatalf("no steady stream: %d frames in 5 s", frames())
	}
	time.Sleep(time.Second)
	g0, rss0 := stableGoroutines(), settledRSS(t)

	outages := []time.Duration{5 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}
	var delays []time.Duration
	for i, outage := range outages {
		before := frames()
		stopAt := time.Now()
		r.Stop()
		if !waitFor(3*time.Second, func() bool { gs := l.Gaps(); return len(gs) == i+1 }) {
			t.Fatalf("cycle %d: no gap recorded 3 s after the publisher stopped (state %v)", i+1, l.Stats().State)
		}
		if st := l.Stats().State; st != LiveReconnecting {
			t.Errorf("cycle %d: state %v during the outage, want reconnecting", i+1, st)
		}
		time.Sleep(time.Until(stopAt.Add(outage)))
		back := r.Start()
		if !waitFor(12*time.Second, func() bool { gs := l.Gaps(); return !gs[i].Open() }) {
			t.Fatalf("cycle %d: not reconnected 12 s after the stream came back; stats %+v", i+1, l.Stats())
		}
		g := l.Gaps()[i]
		delay := g.End.Sub(back)
		delays = append(delays, delay)
		t.Logf("cycle %d: outage %v, gap %v (noticed %v after stop, reconnected %v after the stream returned, %d attempts), reason %q",
			i+1, outage, g.Duration().Round(time.Millisecond), g.Start.Sub(stopAt).Round(time.Millisecond),
			delay.Round(time.Millisecond), g.Attempts, g.Reason)
		if delay > 10*time.Second {
			t.Errorf("cycle %d: reconnected %v after the stream returned, want <= 10 s", i+1, delay)
		}
		if g.Start.Before(stopAt) || g.Start.After(stopAt.Add(3*time.Second)) {
			t.Errorf("cycle %d: gap starts %v after the stop, want within 3 s", i+1, g.Start.Sub(stopAt))
		}
		if g.FirstIndexAfter != g.LastIndexBefore+1 || g.LastIndexBefore < 0 {
			t.Errorf("cycle %d: gap indices %d -> %d, want consecutive", i+1, g.LastIndexBefore, g.FirstIndexAfter)
		}
		if g.Duration() < outage || g.Attempts < 1 || g.Reason == "" || g.LastFrame.IsZero() || g.LastFrame.After(g.Start) {
			t.Errorf("cycle %d: gap %+v shorter than the %v outage or incomplete", i+1, g, outage)
		}
		if !waitFor(5*time.Second, func() bool { return frames() > before+30 }) {
			t.Fatalf("cycle %d: frames do not flow after reconnecting", i+1)
		}
		time.Sleep(time.Second)
	}

	g1, rss1 := settledGoroutines(g0), settledRSS(t)
	st := l.Stats()
	t.Logf("goroutines %d -> %d, RSS %d -> %d KB over %d reconnect cycles; delays %v; stats %+v",
		g0, g1, rss0, rss1, len(outages), delays, st)
	if g1 > g0+2 || g1 < g0-2 {
		t.Errorf("goroutines: %d before the cycles, %d after", g0, g1)
	}
	if rss1-rss0 > 30*1024 {
		t.Errorf("RSS grew by %d KB over %d reconnect cycles", rss1-rss0, len(outages))
	}
	if st.Reconnects != len(outages) || st.Gaps != len(outages) {
		t.Errorf("stats %+v: want %d reconnects and gaps", st, len(outages))
	}
	if n := ev.count(LiveDisconnected); n != len(outages) {
		t.Errorf("%d Disconnected events, want %d", n, len(outages))
	}
	if n := ev.count(LiveReconnected); n != len(outages) {
		t.Errorf("%d Reconnected events, want %d", n, len(outages))
	}

	// Frame.Index keeps increasing across every gap, and PTS jumps over it.
	cancel()
	if err := <-consumerDone; !errors.Is(err, context.Canceled) {
		t.Errorf("consumer ended with %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	gaps := l.Gaps()
	for i := 1; i < len(got); i++ {
		if got[i].index <= got[i-1].index || got[i].pts < got[i-1].pts {
			t.Fatalf("delivered frame %d (PTS %v) after %d (PTS %v)", got[i].index, got[i].pts, got[i-1].index, got[i-1].pts)
		}
	}
	for _, g := range gaps {
		for i := 1; i < len(got); i++ {
			if got[i].index == g.FirstIndexAfter && got[i-1].index == g.LastIndexBefore {
				if jump := got[i].pts - got[i-1].pts; jump < g.End.Sub(g.LastFrame)-100*time.Millisecond {
					t.Errorf("PTS jumps %v over a gap of %v", jump, g.End.Sub(g.LastFrame))
				}
			}
		}
	}
}

// TestLiveBoundedLatency: a consumer slower than the stream gets recent
// frames, never a backlog.
func TestLiveBoundedLatency(t *testing.T) {
	r := newLiveRig(t)
	for _, tc := range []struct {
		buffer     int
		maxLatency int
	}{
		{buffer: 0, maxLatency: 2}, // default buffer (2)
		{buffer: 1, maxLatency: 1},
	} {
		t.Run(fmt.Sprintf("buffer=%d", tc.buffer), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			l, err := OpenLive(ctx, r.URL, LiveOptions{Buffer: tc.buffer})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			buffer := l.Stats().Buffer
			const n = 60
			slow := frameInterval * 3 / 2
			worst, holes := 0, 0
			last := -1
			for i := range n {
				f, err := l.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				lat := l.Latency()
				st := l.Stats()
				worst = max(worst, lat)
				if lat > tc.maxLatency {
					t.Errorf("Next %d: frame %d is %d frames behind the newest decoded", i, f.Index, lat)
				}
				if st.Queue > buffer {
					t.Errorf("Next %d: queue %d > buffer %d", i, st.Queue, buffer)
				}
				if last >= 0 && f.Index > last+1 {
					holes++
				}
				last = f.Index
				time.Sleep(slow) // slower than the stream
			}
			st := l.Stats()
			t.Logf("buffer %d, consumer %v a frame: worst Latency() %d, MaxLatency at delivery %d, MaxQueue %d, dropped %d of %d decoded, %d index holes",
				buffer, slow.Round(time.Millisecond), worst, st.MaxLatency, st.MaxQueue, st.Dropped, st.Decoded, holes)
			if st.MaxQueue > buffer || st.MaxLatency > buffer-1 {
				t.Errorf("stats %+v: queue or latency beyond the buffer", st)
			}
			if st.Dropped == 0 || holes == 0 {
				t.Errorf("a consumer at %v a frame dropped nothing (%+v): frames are being queued", slow, st)
			}
		})
	}
}

// TestLiveStall: a publisher that freezes (connection open, no packets) is
// noticed after StallTimeout and the source reconnects once it resumes.
func TestLiveStall(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time streaming; skipped with -short")
	}
	r := newLiveRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const stall = time.Second
	l, err := OpenLive(ctx, r.URL, LiveOptions{StallTimeout: stall, Timeout: time.Second, MinBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			if _, err := l.Next(ctx); err != nil {
				return
			}
		}
	}()
	if !waitFor(5*time.Second, func() bool { return l.Stats().Delivered > 10 }) {
		t.Fatal("no frames")
	}
	pausedAt := time.Now()
	if err := r.Publisher().Pause(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(stall+2*time.Second, func() bool { return len(l.Gaps()) == 1 }) {
		t.Fatalf("stall not noticed %v after the publisher froze", stall+2*time.Second)
	}
	g := l.Gaps()[0]
	t.Logf("stall noticed %v after the freeze: %q", g.Start.Sub(pausedAt).Round(time.Millisecond), g.Reason)
	if !strings.Contains(g.Reason, "stalled") || g.Start.Sub(g.LastFrame) < stall-10*time.Millisecond {
		t.Errorf("gap %+v: want a stall noticed %v after the last frame", g, stall)
	}
	time.Sleep(2 * time.Second)
	resumedAt := time.Now()
	if err := r.Publisher().Resume(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return !l.Gaps()[0].Open() }) {
		t.Fatalf("not reconnected 10 s after the publisher resumed: %+v", l.Stats())
	}
	g = l.Gaps()[0]
	t.Logf("reconnected %v after resuming, %d attempts", g.End.Sub(resumedAt).Round(time.Millisecond), g.Attempts)
	if g.FirstIndexAfter != g.LastIndexBefore+1 {
		t.Errorf("gap indices %d -> %d", g.LastIndexBefore, g.FirstIndexAfter)
	}
}

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestLiveConnectErrors(t *testing.T) {
	ffmpegBin(t)
	refused := fmt.Sprintf("rtsp://127.0.0.1:%d/cam", freePort(t))
	srv := rtsptest.New(t) // up, but nothing published: 404
	fast := LiveOptions{MaxReconnects: 2, MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Timeout: 2 * time.Second}
	for _, tc := range []struct {
		name     string
		url      string
		opts     LiveOptions
		is       []error
		contains string
		attempts int // ConnectFailed events expected (0: not checked)
	}{
		{name: "refused", url: refused, opts: fast, is: []error{ErrReconnectLimit}, contains: refused, attempts: 3},
		{name: "not-published", url: srv.URL("nobody"), opts: fast, is: []error{ErrReconnectLimit, ErrNotFound}, contains: srv.URL("nobody"), attempts: 3},
		{name: "password-redacted", url: strings.Replace(refused, "rtsp://", "rtsp://admin:s3cret@", 1),
			opts: LiveOptions{MaxReconnects: 1, MinBackoff: 10 * time.Millisecond}, is: []error{ErrReconnectLimit}, contains: "admin:xxxxx@", attempts: 2},
		{name: "empty", url: "", is: []error{ErrBadURL}},
		{name: "file-path", url: "/tmp/cam.mp4", is: []error{ErrBadURL}, contains: "/tmp/cam.mp4"},
		{name: "no-host", url: "rtsp://", is: []error{ErrBadURL}},
		{name: "not-url", url: "camera one", is: []error{ErrBadURL}},
		{name: "unknown-scheme", url: "nosuchproto://127.0.0.1/cam", opts: fast, is: []error{ErrNotVideo}, contains: "nosuchproto://127.0.0.1/cam", attempts: -1},
		{name: "bad-options", url: refused, opts: LiveOptions{Buffer: -1}, contains: "Buffer"},
		{name: "bad-backoff", url: refused, opts: LiveOptions{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, contains: "MaxBackoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev events
			tc.opts.OnEvent = ev.add
			t0 := time.Now()
			l, err := OpenLive(context.Background(), tc.url, tc.opts)
			if err == nil {
				l.Close()
				t.Fatal("OpenLive succeeded")
			}
			t.Logf("%v after %v", err, time.Since(t0).Round(time.Millisecond))
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("error does not wrap %v", want)
				}
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error does not name %q", tc.contains)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Error("error shows the password")
			}
			switch n := ev.count(LiveConnectFailed); {
			case tc.attempts > 0 && n != tc.attempts:
				t.Errorf("%d failed attempts, want %d", n, tc.attempts)
			case tc.attempts < 0 && n != 0:
				t.Errorf("%d retries of a permanent error", n)
			}
			if time.Since(t0) > 10*time.Second {
				t.Errorf("took %v", time.Since(t0))
			}
		})
	}
}

// TestLiveCancel: cancelling the context stops the first connection's
// retries and a reconnecting session promptly; so does Close.
func TestLiveCancel(t *testing.T) {
	ffmpegBin(t)
	refused := fmt.Sprintf("rtsp://127.0.0.1:%d/cam", freePort(t))

	t.Run("first-connection", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(700*time.Millisecond, cancel)
		t0 := time.Now()
		_, err := OpenLive(ctx, refused, LiveOptions{}) // unlimited retries
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), refused) {
			t.Errorf("OpenLive = %v, want context.Canceled naming the URL", err)
		}
		if d := time.Since(t0); d > 700*time.Millisecond+500*time.Millisecond {
			t.Errorf("OpenLive returned %v after the start, 700 ms cancel", d)
		}
	})

	r := newLiveRig(t)
	for _, byClose := range []bool{false, true} {
		name := map[bool]string{false: "ctx-while-reconnecting", true: "close-while-reconnecting"}[byClose]
		t.Run(name, func(t *testing.T) {
			if r.Publisher() == nil {
				r.Start()
			}
			base := stableGoroutines()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			l, err := OpenLive(ctx, r.URL, LiveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if _, err := l.Next(ctx); err != nil {
				t.Fatal(err)
			}
			r.Stop()
			if !waitFor(3*time.Second, func() bool { return l.Stats().State == LiveReconnecting }) {
				t.Fatalf("state %v after the publisher left", l.Stats().State)
			}
			time.Sleep(700 * time.Millisecond) // inside a backoff wait or an attempt
			t0 := time.Now()
			if byClose {
				l.Close()
				if _, err := l.Next(context.Background()); !errors.Is(err, ErrClosed) {
					t.Errorf("Next after Close = %v", err)
				}
			} else {
				cancel()
				// Drain what was buffered before the drop; then the end.
				for {
					_, err := l.Next(context.Background())
					if err == nil {
						continue
					}
					if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), r.URL) {
						t.Errorf("Next after cancel = %v, want context.Canceled naming the URL", err)
					}
					break
				}
				if st := l.Stats().State; st != LiveStopped {
					t.Errorf("state %v after cancel", st)
				}
				l.Close()
			}
			if d := time.Since(t0); d > time.Second {
				t.Errorf("stopping took %v", d)
			}
			if g := settledGoroutines(base); g > base {
				t.Errorf("goroutines: %d before, %d after:\n%s", base, g, goroutineDump())
			}
		})
	}
}

// TestLiveGiveUpAfterDrop: with MaxReconnects, a lost stream that does not
// come back ends the session: Next returns what was buffered, then an error
// wrapping ErrReconnectLimit and the last connection error.
func TestLiveGiveUpAfterDrop(t *testing.T) {
	r := newLiveRig(t)
	var ev events
	l, err := OpenLive(context.Background(), r.URL, LiveOptions{
		MaxReconnects: 3, MinBackoff: 100 * time.Millisecond, OnEvent: ev.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var end error
	for end == nil {
		_, end = l.Next(ctx)
	}
	t.Logf("%v", end)
	if !errors.Is(end, ErrReconnectLimit) || !errors.Is(end, ErrNotFound) || !strings.Contains(end.Error(), r.URL) {
		t.Errorf("Next = %v, want ErrReconnectLimit and ErrNotFound naming the URL", end)
	}
	if _, err := l.Next(ctx); !errors.Is(err, ErrReconnectLimit) {
		t.Errorf("second Next after the end = %v", err)
	}
	st := l.Stats()
	if st.State != LiveStopped || st.FailedAttempts != 3 || st.Gaps != 1 || !l.Gaps()[0].Open() || l.Gaps()[0].Attempts != 3 {
		t.Errorf("stats %+v, gaps %+v: want stopped after 3 failed attempts in one open gap", st, l.Gaps())
	}
	if ev.count(LiveEnded) != 1 || ev.count(LiveConnectFailed) != 3 {
		t.Errorf("events: %d ended, %d connect-failed", ev.count(LiveEnded), ev.count(LiveConnectFailed))
	}
}

func TestLiveBackoff(t *testing.T) {
	for _, tc := range []struct {
		opts LiveOptions
		want []time.Duration // after 1, 2, ... failures
	}{
		{LiveOptions{}, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
		{LiveOptions{MinBackoff: time.Second, MaxBackoff: 3 * time.Second}, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
		{LiveOptions{MinBackoff: 20 * time.Second}, []time.Duration{20 * time.Second, 20 * time.Second}}, // MaxBackoff follows
	} {
		o, err := tc.opts.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		l := &Live{opts: o}
		for i, want := range tc.want {
			if got := l.backoff(i + 1); got != want {
				t.Errorf("%+v: backoff after %d failures = %v, want %v", tc.opts, i+1, got, want)
			}
		}
	}
	o, _ := LiveOptions{Jitter: 0.2}.withDefaults()
	l := &Live{opts: o}
	lo, hi := time.Hour, time.Duration(0)
	for range 200 {
		d := l.backoff(3) // 2 s ± 20 %
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 1600*time.Millisecond || hi > 2400*time.Millisecond || hi-lo < 200*time.Millisecond {
		t.Errorf("jittered 2 s backoff spans %v..%v, want within 1.6..2.4 s and spread", lo, hi)
	}
	if _, err := (LiveOptions{Jitter: 1.5}).withDefaults(); err == nil {
		t.Error("Jitter 1.5 accepted")
	}
}
