package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"samtrack/config"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/video"
)

// GapsFile is the file in a live run's output directory that lists the
// stream's interruptions (rewritten atomically after each one).
const GapsFile = "gaps.json"

// liveSchemes are the URL schemes of streams read with video.OpenLive.
var liveSchemes = map[string]bool{"rtsp": true, "rtsps": true, "rtmp": true, "rtmps": true, "srt": true, "udp": true}

// IsLive reports whether input is a live stream URL (rtsp://, rtsps://,
// rtmp://, rtmps://, srt:// or udp://), which Run reads with video.OpenLive.
// http(s):// URLs are read as files unless Spec.Live is set.
func IsLive(input string) bool {
	u, err := url.Parse(input)
	if err != nil || u.Host == "" {
		return false
	}
	return liveSchemes[strings.ToLower(u.Scheme)]
}

// source is what Run reads frames from: a *video.Source or a live stream.
type source interface {
	Next(ctx context.Context) (media.Frame, error)
	Info() video.Info
	Stats() video.Stats
	Close() error
}

func openSource(ctx context.Context, spec Spec, c config.Config, log *slog.Logger, h Hooks) (source, error) {
	if !spec.Live && !IsLive(spec.Input) {
		o := VideoOptions(c, log)
		o.HTTPProxy = spec.HTTPProxy
		return video.Open(ctx, spec.Input, o)
	}
	if spec.Resume {
		return nil, fmt.Errorf("%s is a live stream, whose frames cannot be replayed: a live run cannot be resumed; start a fresh run (--overwrite replaces the earlier one, or give another output directory)", spec.Input)
	}
	if c.Video.Start != 0 || c.Video.Stride != 1 {
		log.Warn("video.start and video.stride do not apply to a live stream; ignoring them", "start", c.Video.Start, "stride", c.Video.Stride)
	}
	o, d := spec.LiveOptions, LiveOptions(c, log)
	if o.MaxSide == 0 {
		o.MaxSide = d.MaxSide
	}
	if o.Threads == 0 {
		o.Threads = d.Threads
	}
	if o.Timeout == 0 {
		o.Timeout = d.Timeout
	}
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	o.MaxPixels, o.HTTPProxy = d.MaxPixels, spec.HTTPProxy
	if user, hook := o.OnEvent, h.OnLive; user != nil || hook != nil {
		o.OnEvent = func(ev video.LiveEvent) {
			if user != nil {
				user(ev)
			}
			if hook != nil {
				hook(ev)
			}
		}
	}
	l, err := video.OpenLive(ctx, spec.Input, o)
	if err != nil {
		return nil, err
	}
	return &liveSource{Live: l}, nil
}

// liveSource adapts a video.Live to source and writes its gaps.
type liveSource struct {
	*video.Live
	written int // closed gaps written to gaps.json
}

// Stats maps the live counters onto a file source's.
func (l *liveSource) Stats() video.Stats {
	s := l.Live.Stats()
	return video.Stats{Decoded: s.Decoded, Delivered: s.Delivered, CorruptPackets: s.CorruptPackets,
		CorruptFrames: s.CorruptFrames, ConcealedFrames: s.ConcealedFrames, ReadErrors: s.ReadErrors}
}

// Next maps the end of a live session to the error that ended it: a live
// stream has no regular end.
func (l *liveSource) Next(ctx context.Context) (media.Frame, error) {
	f, err := l.Live.Next(ctx)
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("live stream %s ended: %w", l.URL(), err)
	}
	return f, err
}

// GapRecord is one interruption of a live stream as gaps.json records it.
type GapRecord struct {
	// Start is when the drop was noticed, End when the first frame after
	// the reconnection was decoded (null while it lasts).
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end"`
	// Seconds is End-Start (so far, while the gap lasts).
	Seconds float64 `json:"seconds"`
	// LastFrameBefore and FirstFrameAfter are the frame indices around the
	// gap (-1: none); indices do not restart across a gap.
	LastFrameBefore int    `json:"last_frame_before"`
	FirstFrameAfter int    `json:"first_frame_after"`
	Reason          string `json:"reason"`
	Attempts        int    `json:"attempts"`
}

// NewGapRecord converts a video.Gap.
func NewGapRecord(g video.Gap) GapRecord {
	r := GapRecord{Start: g.Start.UTC(), Seconds: g.Duration().Seconds(), LastFrameBefore: g.LastIndexBefore,
		FirstFrameAfter: g.FirstIndexAfter, Reason: g.Reason, Attempts: g.Attempts}
	if !g.Open() {
		end := g.End.UTC()
		r.End = &end
	}
	return r
}

// gapsDoc is gaps.json.
type gapsDoc struct {
	Input string      `json:"input"`
	Gaps  []GapRecord `json:"gaps"`
}

// writeGaps rewrites gaps.json when a gap has closed since the last write,
// or always when final.
func (l *liveSource) writeGaps(dir string, final bool) error {
	gaps := l.Gaps()
	closed := 0
	for _, g := range gaps {
		if !g.Open() {
			closed++
		}
	}
	if !final && closed == l.written {
		return nil
	}
	l.written = closed
	doc := gapsDoc{Input: l.URL(), Gaps: make([]GapRecord, 0, len(gaps))}
	for _, g := range gaps {
		doc.Gaps = append(doc.Gaps, NewGapRecord(g))
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("gaps: %w", err)
	}
	b = append(b, '\n')
	path := filepath.Join(dir, GapsFile)
	return mask.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err }) // its errors name path
}
