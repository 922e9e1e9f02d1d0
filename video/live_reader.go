package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"samtrack/media"
)

// This file is the reader side of Live: the goroutine that connects,
// decodes into the ring buffer and reconnects.

var (
	errStalled     = errors.New("stalled")
	errOpenTimeout = errors.New("open timed out")
)

func randFloat() float64 { return rand.Float64() }

// connectFirst makes the first connection for OpenLive.
func (l *Live) connectFirst(ctx context.Context) (*Source, error) {
	limit := 0
	if l.opts.MaxReconnects > 0 {
		limit = l.opts.MaxReconnects + 1
	}
	src, _, err := l.connect(ctx, 0, nil, limit, true)
	return src, err
}

// connect dials until a connection opens. failures is the number of failed
// attempts in a row so far (lastErr the last one's error) and limit the most
// allowed (0: unlimited). It returns the new failure count.
func (l *Live) connect(ctx context.Context, failures int, lastErr error, limit int, first bool) (*Source, int, error) {
	for {
		if failures > 0 {
			giveUp := limit > 0 && failures >= limit
			var wait time.Duration
			if !giveUp {
				wait = l.backoff(failures)
			}
			l.emit(LiveEvent{Kind: LiveConnectFailed, Time: time.Now(), Attempt: failures, Backoff: wait, Err: lastErr})
			if failures <= liveFailureLogThreshold || failures%10 == 0 {
				l.log.Warn("video: live stream connection failed", "failures", failures, "retry_in", wait, "err", lastErr)
			}
			if giveUp {
				if first {
					return nil, failures, fmt.Errorf("open live %s: %w after %d failed attempts; the last one: %w",
						l.display, ErrReconnectLimit, failures, lastErr)
				}
				return nil, failures, fmt.Errorf("live %s: stream lost; %w after %d failed attempts (raise it, or 0 for unlimited, to keep trying); the last one: %w",
					l.display, ErrReconnectLimit, failures, lastErr)
			}
			if !sleepCtx(ctx, wait) {
				return nil, failures, l.stoppedErr(ctx, first)
			}
		}
		l.noteAttempt()
		src, err := l.dial(ctx)
		if err == nil {
			return src, failures, nil
		}
		if ctx.Err() != nil {
			return nil, failures, l.stoppedErr(ctx, first)
		}
		failures++
		lastErr = err
		l.mu.Lock()
		l.stats.FailedAttempts++
		l.mu.Unlock()
		if first && (errors.Is(err, ErrNotVideo) || errors.Is(err, ErrNoVideoStream)) {
			// Not a transient condition: an unsupported scheme, or a
			// stream that is not video.
			return nil, failures, err
		}
	}
}

func (l *Live) stoppedErr(ctx context.Context, first bool) error {
	if first {
		return fmt.Errorf("open live %s: %w", l.display, ctx.Err())
	}
	return fmt.Errorf("live %s: stopped: %w", l.display, ctx.Err())
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dial opens one connection, bounded by Timeout+StallTimeout.
func (l *Live) dial(ctx context.Context) (*Source, error) {
	limit := l.opts.Timeout + l.opts.StallTimeout
	octx, cancel := context.WithTimeoutCause(ctx, limit, errOpenTimeout)
	defer cancel()
	src, err := Open(octx, l.url, Options{
		MaxSide: l.opts.MaxSide, Threads: l.opts.Threads, Timeout: l.opts.Timeout, Logger: l.opts.Logger,
		MaxPixels: l.opts.MaxPixels, HTTPProxy: l.opts.HTTPProxy,
	})
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(octx), errOpenTimeout) {
			err = fmt.Errorf("open %s: no stream within %v (LiveOptions.Timeout+StallTimeout): %w", l.display, limit, err)
		}
		return nil, l.redact(err)
	}
	return src, nil
}

// run is the reader goroutine: it decodes src until the stream drops, then
// reconnects, until ctx is done or MaxReconnects is reached.
func (l *Live) run(ctx context.Context, src *Source) {
	var endErr error
	defer func() {
		if src != nil {
			l.closeSource(src)
		}
		if endErr == nil { // every return sets it; keep Next from ever blocking
			endErr = fmt.Errorf("live %s: stopped", l.display)
		}
		l.mu.Lock()
		l.state = LiveStopped
		l.err = endErr
		l.mu.Unlock()
		if !l.isClosed() {
			l.log.Info("video: live stream ended", "err", endErr)
		}
		l.emit(LiveEvent{Kind: LiveEnded, Time: time.Now(), Err: endErr})
		close(l.done)
		select {
		case l.notify <- struct{}{}:
		default:
		}
	}()
	failures := 0
	var lastErr error
	for {
		if src == nil {
			var err error
			src, failures, err = l.connect(ctx, failures, lastErr, l.opts.MaxReconnects, false)
			if err != nil {
				endErr = err
				return
			}
			l.mu.Lock()
			l.info = src.Info()
			l.mu.Unlock()
		}
		got, err := l.pump(ctx, src)
		l.closeSource(src)
		src = nil
		if ctx.Err() != nil {
			endErr = l.stoppedErr(ctx, false)
			return
		}
		l.openGap(err)
		if got {
			failures = 0
		} else {
			// Opened but never produced a frame: a failed attempt.
			failures++
			lastErr = err
			l.mu.Lock()
			l.stats.FailedAttempts++
			l.mu.Unlock()
		}
	}
}

// pump decodes src into the ring until the stream fails or stalls. got
// reports whether at least one frame was decoded.
func (l *Live) pump(ctx context.Context, src *Source) (got bool, err error) {
	cctx, ccancel := context.WithCancelCause(ctx)
	defer ccancel(nil)
	stall := time.AfterFunc(l.opts.StallTimeout, func() { ccancel(errStalled) })
	defer stall.Stop()
	for {
		l.feedRecycled(src)
		f, err := src.Next(cctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return got, ctx.Err()
			case errors.Is(context.Cause(cctx), errStalled):
				return got, fmt.Errorf("stalled: no frame for %v (LiveOptions.StallTimeout)", l.opts.StallTimeout)
			case errors.Is(err, io.EOF):
				return got, errors.New("the stream ended (the server closed it)")
			case errors.Is(err, ErrTruncated) && src.dec != nil && src.dec.lastReadErr != nil:
				// A live stream has no declared end: report the read
				// failure itself rather than a truncated file.
				return got, fmt.Errorf("read error: %v", src.dec.lastReadErr)
			default:
				return got, l.redact(err)
			}
		}
		stall.Reset(l.opts.StallTimeout)
		got = true
		l.deliver(f, src)
	}
}

// deliver queues f as the newest frame, dropping the oldest waiting one when
// the ring is full, and closes an ongoing gap.
func (l *Live) deliver(f media.Frame, src *Source) {
	now := time.Now()
	var dropped []byte
	var reconnected *LiveEvent
	l.mu.Lock()
	if l.start.IsZero() {
		l.start = now
	}
	f.Index = l.nextIndex
	l.nextIndex++
	f.PTS = now.Sub(l.start)
	l.newest, l.newestAt = f.Index, now
	l.stats.Decoded++
	size := len(l.ring)
	if l.n == size {
		dropped = l.ring[l.head].RGB
		l.ring[l.head] = media.Frame{}
		l.head = (l.head + 1) % size
		l.n--
		l.stats.Dropped++
	}
	l.ring[(l.head+l.n)%size] = f
	l.n++
	l.stats.MaxQueue = max(l.stats.MaxQueue, l.n)
	l.cur = src.Stats()
	if l.gapOpen {
		g := &l.gaps[len(l.gaps)-1]
		g.End = now
		g.FirstIndexAfter = f.Index
		l.gapOpen = false
		l.stats.Reconnects++
		l.state = LiveStreaming
		reconnected = &LiveEvent{Kind: LiveReconnected, Time: now, Attempt: g.Attempts, Gap: *g, Info: l.info}
	}
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	if dropped != nil {
		src.Recycle(media.Frame{Image: media.Image{RGB: dropped}})
	}
	if reconnected != nil {
		l.log.Info("video: live stream reconnected", "gap", reconnected.Gap.Duration().Round(time.Millisecond),
			"attempts", reconnected.Gap.Attempts, "reason", reconnected.Gap.Reason)
		l.emit(*reconnected)
	}
}

// openGap records that the stream was lost (unless a gap is already open:
// a connection that never produced a frame does not start a new one).
func (l *Live) openGap(reason error) {
	now := time.Now()
	l.mu.Lock()
	if l.gapOpen {
		l.mu.Unlock()
		return
	}
	g := Gap{Start: now, LastIndexBefore: l.newest, FirstIndexAfter: -1, LastFrame: l.newestAt, Reason: reason.Error()}
	if len(l.gaps) == maxLiveGaps {
		l.gaps = append(l.gaps[:0], l.gaps[1:]...)
	}
	l.gaps = append(l.gaps, g)
	l.gapOpen = true
	l.stats.Gaps++
	l.state = LiveReconnecting
	l.mu.Unlock()
	l.log.Warn("video: live stream lost, reconnecting", "reason", g.Reason, "last_index", g.LastIndexBefore)
	l.emit(LiveEvent{Kind: LiveDisconnected, Time: now, Err: reason, Gap: g})
}

func (l *Live) noteAttempt() {
	l.mu.Lock()
	if l.gapOpen {
		l.gaps[len(l.gaps)-1].Attempts++
	}
	l.mu.Unlock()
}

// feedRecycled hands the buffers given back by Recycle to src.
func (l *Live) feedRecycled(src *Source) {
	l.mu.Lock()
	if len(l.pool) == 0 {
		l.mu.Unlock()
		return
	}
	bufs := l.pool
	l.pool = nil
	l.mu.Unlock()
	for _, b := range bufs {
		src.Recycle(media.Frame{Image: media.Image{RGB: b}})
	}
}

// closeSource folds src's damage counters into the session's and frees it.
func (l *Live) closeSource(src *Source) {
	st := src.Stats()
	l.mu.Lock()
	l.past.CorruptPackets += st.CorruptPackets
	l.past.CorruptFrames += st.CorruptFrames
	l.past.ConcealedFrames += st.ConcealedFrames
	l.past.ReadErrors += st.ReadErrors
	l.cur = Stats{}
	l.mu.Unlock()
	src.Close()
	releaseFreedNative()
}

func (l *Live) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}
