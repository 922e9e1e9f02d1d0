package video

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	neturl "net/url"
	"strings"
	"sync"
	"time"

	"samtrack/media"
)

// Live-source errors; test with errors.Is.
var (
	// ErrBadURL: OpenLive was given something that is not a network stream
	// URL (scheme://host...).
	ErrBadURL = errors.New("video: not a network stream URL")
	// ErrReconnectLimit: the stream could not be (re)connected within
	// LiveOptions.MaxReconnects attempts. The error also wraps the last
	// connection error (e.g. ErrNotFound for an RTSP 404).
	ErrReconnectLimit = errors.New("video: gave up connecting (LiveOptions.MaxReconnects reached)")
)

// Live defaults.
const (
	DefaultLiveBuffer       = 2
	DefaultStallTimeout     = 10 * time.Second
	DefaultMinBackoff       = 500 * time.Millisecond
	DefaultMaxBackoff       = 10 * time.Second
	maxLiveGaps             = 1024 // Gaps keeps the most recent ones
	maxLiveRecycled         = 8
	liveFailureLogThreshold = 5 // log every failed attempt up to here, then every 10th
)

// LiveOptions control a live source. The zero value gives the defaults.
type LiveOptions struct {
	// Buffer is how many decoded frames wait for Next (default 2). When the
	// consumer is slower than the stream the oldest waiting frame is
	// dropped, so a delivered frame is never more than Buffer-1 frames
	// older than the newest decoded one at the time it is handed out.
	Buffer int
	// StallTimeout: no decoded frame for this long counts as a drop and
	// triggers a reconnect (default 10 s). It also bounds the wait for the
	// first frame of a new connection.
	StallTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential wait between failed
	// connection attempts: MinBackoff, 2*MinBackoff, ... up to MaxBackoff
	// (defaults 0.5 s and 10 s). The first attempt after a drop is
	// immediate.
	MinBackoff, MaxBackoff time.Duration
	// Jitter spreads each wait uniformly by ±Jitter of it (0 to 1; 0: none),
	// so that many cameras do not reconnect in lockstep.
	Jitter float64
	// MaxReconnects is how many reconnection attempts in a row may fail
	// before the source gives up (0: never give up; only ctx or Close stop
	// it). For the first connection, OpenLive makes 1+MaxReconnects
	// attempts. A connection that opens but decodes no frame counts as a
	// failed attempt; one frame resets the count.
	MaxReconnects int
	// Timeout bounds each network operation (socket I/O, as FFmpeg's
	// `timeout` option; default 10 s). Opening one connection may take up to
	// Timeout+StallTimeout.
	Timeout time.Duration
	// MaxSide caps the longer side of the delivered frames (0: no cap).
	MaxSide int
	// Threads is the number of decoder threads (0: one per core).
	Threads int
	// MaxPixels and HTTPProxy: see Options.
	MaxPixels int
	HTTPProxy string
	// Logger receives connection warnings (default slog.Default()).
	Logger *slog.Logger
	// OnEvent, when set, is called from the reader goroutine for every
	// connection event (see LiveEventKind), in order. It must return
	// quickly (decoding waits for it) and must not call Close (deadlock).
	OnEvent func(LiveEvent)
}

func (o LiveOptions) withDefaults() (LiveOptions, error) {
	switch {
	case o.Buffer < 0:
		return o, fmt.Errorf("invalid LiveOptions.Buffer %d: must be >= 1 (0 means %d)", o.Buffer, DefaultLiveBuffer)
	case o.StallTimeout < 0:
		return o, fmt.Errorf("invalid LiveOptions.StallTimeout %v: must be > 0 (0 means %v)", o.StallTimeout, DefaultStallTimeout)
	case o.MinBackoff < 0 || o.MaxBackoff < 0:
		return o, fmt.Errorf("invalid LiveOptions backoff %v..%v: must be > 0 (0 means the default)", o.MinBackoff, o.MaxBackoff)
	case o.Jitter < 0 || o.Jitter > 1 || math.IsNaN(o.Jitter):
		return o, fmt.Errorf("invalid LiveOptions.Jitter %v: must be between 0 and 1", o.Jitter)
	case o.MaxReconnects < 0:
		return o, fmt.Errorf("invalid LiveOptions.MaxReconnects %d: must be >= 0 (0 means unlimited)", o.MaxReconnects)
	case o.Timeout < 0:
		return o, fmt.Errorf("invalid LiveOptions.Timeout %v: must be > 0 (0 means %v)", o.Timeout, defaultTimeout)
	case o.MaxSide < 0:
		return o, fmt.Errorf("invalid LiveOptions.MaxSide %d: must be >= 0 (0 means no cap)", o.MaxSide)
	case o.Threads < 0:
		return o, fmt.Errorf("invalid LiveOptions.Threads %d: must be >= 0 (0 means auto)", o.Threads)
	}
	if o.Buffer == 0 {
		o.Buffer = DefaultLiveBuffer
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.MaxBackoff < o.MinBackoff {
		return o, fmt.Errorf("invalid LiveOptions: MaxBackoff %v is below MinBackoff %v", o.MaxBackoff, o.MinBackoff)
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// LiveState is where a live source stands.
type LiveState int

const (
	// LiveConnecting: OpenLive is making the first connection.
	LiveConnecting LiveState = iota
	// LiveStreaming: connected and decoding.
	LiveStreaming
	// LiveReconnecting: the stream dropped; a reconnection is under way.
	LiveReconnecting
	// LiveStopped: Close, ctx or MaxReconnects ended the session.
	LiveStopped
)

func (s LiveState) String() string {
	switch s {
	case LiveConnecting:
		return "connecting"
	case LiveStreaming:
		return "streaming"
	case LiveReconnecting:
		return "reconnecting"
	case LiveStopped:
		return "stopped"
	}
	return fmt.Sprintf("LiveState(%d)", int(s))
}

// Gap is an interruption of a live stream: from the moment the drop was
// noticed to the first frame decoded after reconnecting. Frame.Index does not
// restart across a gap (LastIndexBefore+1 == FirstIndexAfter) while
// Frame.PTS, a wall-clock time, jumps over it.
type Gap struct {
	// Start is when the drop was noticed (read error, end of stream, or
	// StallTimeout after the last frame); End is when the first frame after
	// the reconnection was decoded (zero while the gap lasts).
	Start, End time.Time
	// LastIndexBefore is the Frame.Index of the last frame decoded before
	// the gap (-1: none); FirstIndexAfter the first after it (-1 while the
	// gap lasts).
	LastIndexBefore, FirstIndexAfter int
	// LastFrame is when frame LastIndexBefore was decoded (zero if none):
	// after a stall it is StallTimeout before Start.
	LastFrame time.Time
	// Reason says why the stream was lost.
	Reason string
	// Attempts counts the connection attempts made during the gap.
	Attempts int
}

// Open reports whether the gap is still going on.
func (g Gap) Open() bool { return g.End.IsZero() }

// Duration is End-Start, or the time since Start while the gap lasts.
func (g Gap) Duration() time.Duration {
	if g.Open() {
		return time.Since(g.Start)
	}
	return g.End.Sub(g.Start)
}

// LiveEventKind says what a LiveEvent reports.
type LiveEventKind int

const (
	// LiveConnected: the first connection is up (Info set).
	LiveConnected LiveEventKind = iota
	// LiveDisconnected: the stream dropped; Gap (open) and Err say why.
	LiveDisconnected
	// LiveConnectFailed: a connection attempt failed (Err); Attempt counts
	// the failures in a row, Backoff is the wait before the next attempt.
	LiveConnectFailed
	// LiveReconnected: the first frame after a drop was decoded; Gap is
	// closed, Info describes the new connection (its size may differ).
	LiveReconnected
	// LiveEnded: the session is over (Err: why).
	LiveEnded
)

func (k LiveEventKind) String() string {
	switch k {
	case LiveConnected:
		return "connected"
	case LiveDisconnected:
		return "disconnected"
	case LiveConnectFailed:
		return "connect-failed"
	case LiveReconnected:
		return "reconnected"
	case LiveEnded:
		return "ended"
	}
	return fmt.Sprintf("LiveEventKind(%d)", int(k))
}

// LiveEvent is a connection event of a live source.
type LiveEvent struct {
	Kind    LiveEventKind
	Time    time.Time
	Attempt int
	Backoff time.Duration
	Err     error
	Gap     Gap
	Info    Info
}

// LiveStats counts what a live source did. Decoded = Delivered + Dropped +
// Queue (frames still waiting).
type LiveStats struct {
	State LiveState
	// Decoded counts frames decoded over the whole session; Delivered
	// those returned by Next; Dropped those discarded unseen because the
	// consumer was slower than the stream.
	Decoded, Delivered, Dropped int
	// Queue is how many frames wait for Next now (always <= Buffer);
	// MaxQueue the most that ever waited.
	Queue, MaxQueue, Buffer int
	// MaxLatency is the largest number of frames by which a delivered frame
	// was behind the newest decoded one when Next returned it.
	MaxLatency int
	// Reconnects counts successful reconnections (gaps closed);
	// FailedAttempts counts failed connection attempts (including the
	// first connection's); Gaps counts stream interruptions.
	Reconnects, FailedAttempts, Gaps int
	// Damage summed over every connection (see Stats).
	CorruptPackets, CorruptFrames, ConcealedFrames, ReadErrors int
}

// Live delivers the frames of a live network stream (RTSP over TCP, HTTP,
// RTMP, SRT, UDP ...) with bounded latency, reconnecting when the stream
// drops. A reader goroutine decodes continuously into a small buffer that
// keeps only the newest frames; Next hands them out in order. Next is meant
// for one consumer; Stats, Gaps, Latency, Info and Close may be called from
// any goroutine. Close it to stop the goroutine and free its native
// resources.
type Live struct {
	url     string // as given
	display string // with any password redacted
	opts    LiveOptions
	log     *slog.Logger
	cancel  context.CancelFunc
	done    chan struct{} // closed when the reader goroutine has exited
	notify  chan struct{} // capacity 1: a frame was queued or the session ended

	mu          sync.Mutex
	info        Info
	state       LiveState
	ring        []media.Frame // capacity opts.Buffer
	head, n     int
	stats       LiveStats
	past, cur   Stats // damage counters of closed connections, and of the current one
	gaps        []Gap
	gapOpen     bool // gaps[len-1] is the ongoing gap
	nextIndex   int
	newest      int // Frame.Index of the newest decoded frame (-1: none)
	newestAt    time.Time
	lastLatency int // newest-Index of the last frame Next returned, at that time
	start       time.Time
	err         error // terminal error, returned by Next once the queue is empty
	closed      bool
	pool        [][]byte // pixel buffers handed back by Recycle
}

// IsStreamURL reports whether s is what OpenLive reads: scheme://host...,
// not a local path.
func IsStreamURL(s string) bool {
	u, err := neturl.Parse(s)
	return isURL(s) && err == nil && u.Host != ""
}

// OpenLive connects to the live stream at url and starts decoding it. It
// makes the first connection itself, retrying with backoff as
// LiveOptions.MaxReconnects allows, so a wrong address, a refused connection
// or a stream that is not video comes back here as an error naming the URL;
// with MaxReconnects 0 it keeps trying until ctx is done. ctx then bounds the
// whole session: cancelling it stops the reconnecting and decoding like
// Close does (Close is still needed to free the resources). RTSP URLs use the
// TCP transport.
func OpenLive(ctx context.Context, url string, opts LiveOptions) (*Live, error) {
	display := redactURL(url)
	if !IsStreamURL(url) {
		return nil, fmt.Errorf("open live %q: %w: want scheme://host[:port]/path, e.g. rtsp://192.168.1.10:554/stream", display, ErrBadURL)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open live %s: %w", display, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open live %s: %w", display, err)
	}
	lctx, cancel := context.WithCancel(ctx)
	l := &Live{
		url: url, display: display, opts: opts, log: opts.Logger.With("url", display),
		cancel: cancel, done: make(chan struct{}), notify: make(chan struct{}, 1),
		state: LiveConnecting, ring: make([]media.Frame, opts.Buffer),
		newest: -1,
	}
	l.stats.Buffer = opts.Buffer
	src, err := l.connectFirst(lctx)
	if err != nil {
		cancel()
		return nil, err
	}
	l.mu.Lock()
	l.info = src.Info()
	l.state = LiveStreaming
	l.mu.Unlock()
	l.log.Info("video: live stream connected", "size", fmt.Sprintf("%dx%d", l.info.Width, l.info.Height),
		"fps", l.info.FPS, "codec", l.info.Codec)
	l.emit(LiveEvent{Kind: LiveConnected, Time: time.Now(), Info: l.info})
	go l.run(lctx, src)
	return l, nil
}

// URL returns the stream address, with any password redacted.
func (l *Live) URL() string { return l.display }

// Info describes the current (or last) connection.
func (l *Live) Info() Info {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Next returns the oldest frame still buffered, all of which are among the
// newest LiveOptions.Buffer decoded frames, blocking until one arrives. It
// returns ctx.Err() when ctx is done, and once the session has ended (ctx of
// OpenLive cancelled, or MaxReconnects reached: an error wrapping
// ErrReconnectLimit) the remaining frames and then the terminal error.
// After Close it returns ErrClosed.
//
// Frame.Index counts decoded frames over the whole session, across
// reconnections (dropped frames leave holes); Frame.PTS is the wall-clock
// time since the first frame was decoded.
func (l *Live) Next(ctx context.Context) (media.Frame, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return media.Frame{}, fmt.Errorf("next frame of %s: %w", l.display, ErrClosed)
		}
		if l.n > 0 {
			f := l.ring[l.head]
			l.ring[l.head] = media.Frame{}
			l.head = (l.head + 1) % len(l.ring)
			l.n--
			l.stats.Delivered++
			l.lastLatency = l.newest - f.Index
			l.stats.MaxLatency = max(l.stats.MaxLatency, l.lastLatency)
			l.mu.Unlock()
			return f, nil
		}
		if l.err != nil {
			err := l.err
			l.mu.Unlock()
			return media.Frame{}, err
		}
		l.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return media.Frame{}, err
		}
		select {
		case <-ctx.Done():
			return media.Frame{}, ctx.Err()
		case <-l.notify:
		case <-l.done:
		}
	}
}

// Latency is how many decoded frames the last frame returned by Next was
// behind the newest decoded frame when Next returned it (0 before the first
// Next). It never exceeds LiveOptions.Buffer-1: however slow the consumer,
// it gets one of the newest frames, not a backlog.
func (l *Live) Latency() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastLatency
}

// Stats returns the counters so far.
func (l *Live) Stats() LiveStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	st.State = l.state
	st.Queue = l.n
	st.CorruptPackets = l.past.CorruptPackets + l.cur.CorruptPackets
	st.CorruptFrames = l.past.CorruptFrames + l.cur.CorruptFrames
	st.ConcealedFrames = l.past.ConcealedFrames + l.cur.ConcealedFrames
	st.ReadErrors = l.past.ReadErrors + l.cur.ReadErrors
	return st
}

// Gaps returns the interruptions so far, oldest first (at most the 1024
// most recent); the last one has a zero End while it is going on.
func (l *Live) Gaps() []Gap {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Gap(nil), l.gaps...)
}

// Recycle hands the pixel buffer of a frame the caller has finished with
// back to the source, to be filled with a later frame. Optional; after it
// the caller must not use f.RGB again.
func (l *Live) Recycle(f media.Frame) {
	if cap(f.RGB) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.pool) >= maxLiveRecycled {
		return
	}
	p := &f.RGB[:1][0]
	for _, b := range l.pool {
		if &b[:1][0] == p {
			return // recycled twice
		}
	}
	l.pool = append(l.pool, f.RGB)
}

// Close stops the reader goroutine, closes the connection and frees every
// native resource before returning. It is idempotent.
func (l *Live) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	<-l.done
	l.mu.Lock()
	clear(l.ring)
	l.n = 0
	l.pool = nil
	l.mu.Unlock()
	return nil
}

func (l *Live) emit(ev LiveEvent) {
	if l.opts.OnEvent != nil {
		l.opts.OnEvent(ev)
	}
}

// backoff is the wait after the given number of failed attempts in a row.
func (l *Live) backoff(failures int) time.Duration {
	d := l.opts.MinBackoff
	for i := 1; i < failures && d < l.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, l.opts.MaxBackoff)
	if j := l.opts.Jitter; j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*randFloat()-1)))
	}
	return d
}

// redactURL hides the password of a URL with credentials.
func redactURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); !ok {
		return raw
	}
	return u.Redacted()
}

// redactedError shows err with the raw URL replaced by its redacted form
// and still unwraps to err.
type redactedError struct {
	err      error
	raw, red string
}

func (e *redactedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.raw, e.red) }
func (e *redactedError) Unwrap() error { return e.err }

func (l *Live) redact(err error) error {
	if err == nil || l.url == l.display {
		return err
	}
	return &redactedError{err: err, raw: l.url, red: l.display}
}
