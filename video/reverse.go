package video

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"time"

	"samtrack/media"

	"github.com/asticode/go-astiav"
)

// DefaultReverseChunkBytes bounds the RGB pictures a Reverse holds at once
// when Options.ReverseChunkBytes is zero.
const DefaultReverseChunkBytes = 64 << 20

// Reverse delivers the frames of a video file or image directory from a
// given frame back to the first, with the indices, timestamps and pixels the
// forward Source gives them (Options.Start, Stride and MaxSide apply alike;
// MaxFrames does not). A video file is never held whole in memory: Reverse
// first reads the packets once without decoding them, to learn every
// frame's timestamp and the key frames, then walks the file backwards in
// chunks of at most Options.ReverseChunkBytes of RGB, each chunk decoded
// from the key frame that precedes it. Frames between a key frame and a
// chunk are decoded and dropped, so a group of pictures longer than a chunk
// is decoded more than once. Indices follow the timestamps (image
// directories: the file order), so on damaged input, where the forward
// Source skips a picture that cannot be decoded and counts on, the two can
// disagree after it. It is not safe for concurrent use; Close frees its
// native resources.
type Reverse struct {
	src   *Source
	log   func(msg string, args ...any)
	pts   []int64       // file: presentation timestamps of indices 0.., ascending
	keys  []int64       // file: key-frame timestamps, ascending
	base  int           // Frame.Index of the first frame at or after Start
	next  int           // the next index to deliver, counted from base; -1 when done
	held  int           // frames a chunk holds at most
	chunk []media.Frame // decoded frames of the current chunk, ascending index
	bufs  [][]byte
	stats Stats
}

// OpenReverse opens src (a video file or an image directory) to deliver its
// frames from source index last (or the last frame, when the video is
// shorter) back to the first frame at or after Options.Start. Live streams and other URLs cannot be read backwards.
func OpenReverse(ctx context.Context, src string, last int, opts Options) (*Reverse, error) {
	if last < 0 {
		return nil, fmt.Errorf("open %s backwards: last frame %d is negative", src, last)
	}
	if isURL(src) {
		return nil, fmt.Errorf("open %s backwards: a URL cannot be read backwards; download the video to a file, or track forwards only (--direction forward)", src)
	}
	opts.MaxFrames = 0
	s, err := Open(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	r := &Reverse{src: s, log: s.log.Warn}
	if err := r.init(ctx, last); err != nil {
		s.Close()
		return nil, err
	}
	return r, nil
}

func (r *Reverse) init(ctx context.Context, last int) error {
	s := r.src
	frameBytes := max(s.info.Width*s.info.Height*3, 1)
	budget := s.opts.ReverseChunkBytes
	if budget <= 0 {
		budget = DefaultReverseChunkBytes
	}
	r.held = max(budget/frameBytes, 1)
	n := 0
	if s.info.Kind == KindDir {
		n = len(s.files) - s.dirPos
		r.base = s.dirPos
	} else {
		if err := r.scan(ctx); err != nil {
			return err
		}
		n = len(r.pts)
		if rate := cmp.Or(s.dec.avgFPS, s.dec.fps); s.opts.Start > 0 && rate > 0 && n > 0 {
			// Numbered as the forward Source numbers them.
			r.base = int(math.Round(tsToDuration(r.pts[0]-s.dec.startPTS, s.dec.tb).Seconds() * rate))
		}
	}
	if n == 0 {
		return fmt.Errorf("open %s backwards: %w: no frame at or after the start time", s.info.Src, ErrNotVideo)
	}
	if last < r.base {
		return fmt.Errorf("open %s backwards: frame %d is before the first frame at the start time (%d); prompt a later frame or start earlier", s.info.Src, last, r.base)
	}
	last = min(last-r.base, n-1)
	r.next = last - last%s.opts.Stride
	return nil
}

// scan reads every packet of the video stream once, without decoding, for
// the frames' timestamps and the key frames.
func (r *Reverse) scan(ctx context.Context) error {
	s, d := r.src, r.src.dec
	if err := d.seek(0); err != nil {
		return fmt.Errorf("open %s backwards: %w: it cannot be seeked (%v); track forwards only (--direction forward)", s.info.Src, ErrNotVideo, err)
	}
	for {
		err := d.readPacket(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("open %s backwards: %w", s.info.Src, err)
		}
		if d.pkt.StreamIndex() == d.vidx {
			ts := d.pkt.Pts()
			if ts == astiav.NoPtsValue {
				ts = d.pkt.Dts()
			}
			if ts != astiav.NoPtsValue {
				r.pts = append(r.pts, ts)
				if d.pkt.Flags().Has(astiav.PacketFlagKey) {
					r.keys = append(r.keys, ts)
				}
			}
		}
		d.pkt.Unref()
	}
	slices.Sort(r.pts)
	r.pts = slices.Compact(r.pts)
	slices.Sort(r.keys)
	if s.opts.Start > 0 {
		i := sort.Search(len(r.pts), func(i int) bool {
			return tsToDuration(r.pts[i]-d.startPTS, d.tb)+s.startTol >= s.opts.Start
		})
		r.pts = r.pts[i:]
	}
	if len(r.keys) == 0 && len(r.pts) > 0 {
		r.keys = []int64{r.pts[0]} // no key flags: decode from the start
	}
	d.corruptPackets, d.readErrs, d.lastReadErr, d.haveEnd = 0, 0, nil, false
	return nil
}

// Info describes the source.
func (r *Reverse) Info() Info { return r.src.info }

// First is the index of the first frame at or after Options.Start, where
// Next ends and from which Options.Stride counts.
func (r *Reverse) First() int { return r.base }

// Stats returns the counters so far; frames decoded only to reach a chunk
// count in Decoded.
func (r *Reverse) Stats() Stats {
	return r.src.dec.addCounts(r.stats)
}

// Next returns the next frame, going backwards; io.EOF after frame 0.
// Frames that cannot be decoded are skipped and counted in Stats.
func (r *Reverse) Next(ctx context.Context) (media.Frame, error) {
	if r.src.closed {
		return media.Frame{}, fmt.Errorf("next frame of %s: %w", r.src.info.Src, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return media.Frame{}, err
	}
	for len(r.chunk) == 0 {
		if r.next < 0 {
			r.stats.Ended = true
			return media.Frame{}, io.EOF
		}
		if err := r.load(ctx); err != nil {
			return media.Frame{}, err
		}
	}
	f := r.chunk[len(r.chunk)-1]
	r.chunk = r.chunk[:len(r.chunk)-1]
	f.Index += r.base
	r.stats.Delivered++
	return f, nil
}

// Recycle hands a delivered frame's pixels back for a later frame
// (optional, as for Source.Recycle).
func (r *Reverse) Recycle(f media.Frame) {
	if n := r.src.info.Width * r.src.info.Height * 3; n > 0 && cap(f.RGB) >= n && len(r.bufs) < r.held+maxRecycled {
		r.bufs = append(r.bufs, f.RGB[:n])
	}
}

func (r *Reverse) buffer() []byte {
	if len(r.bufs) == 0 {
		return nil
	}
	b := r.bufs[len(r.bufs)-1]
	r.bufs = r.bufs[:len(r.bufs)-1]
	return b
}

// load decodes the chunk that ends at r.next.
func (r *Reverse) load(ctx context.Context) error {
	s := r.src
	b := r.next
	a := max(b-(r.held-1)*s.opts.Stride, 0)
	if s.info.Kind == KindDir {
		a = b - (b-a)/s.opts.Stride*s.opts.Stride // on the stride
		r.next = a - s.opts.Stride
		for i := a; i <= b; i += s.opts.Stride {
			if err := r.loadImage(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}
	// Never cross the key frame before b: the chunk is decoded from it.
	if k := sort.Search(len(r.keys), func(i int) bool { return r.keys[i] > r.pts[b] }) - 1; k >= 0 {
		first := sort.Search(len(r.pts), func(i int) bool { return r.pts[i] >= r.keys[k] })
		a = max(a, first)
	}
	a = min(a+(s.opts.Stride-a%s.opts.Stride)%s.opts.Stride, b) // b is on the stride
	r.next = a - s.opts.Stride
	return r.decodeChunk(ctx, a, b)
}

func (r *Reverse) loadImage(ctx context.Context, idx int) error {
	s := r.src
	name := s.files[s.dirPos+idx]
	rgb, err := s.readImage(ctx, name)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.stats.CorruptFrames++
		r.log("video: image could not be decoded, skipped", "src", s.info.Src, "file", name, "err", err)
		return nil
	}
	r.stats.Decoded++
	pos := s.dirPos + idx
	r.chunk = append(r.chunk, media.Frame{
		Index: idx,
		Name:  name,
		PTS:   time.Duration(float64(pos) / s.opts.DirFPS * float64(time.Second)),
		Image: media.Image{W: s.info.Width, H: s.info.Height, RGB: rgb},
	})
	return nil
}

// decodeChunk seeks to the key frame before frame a and decodes up to frame
// b, keeping the frames a..b on the stride.
func (r *Reverse) decodeChunk(ctx context.Context, a, b int) error {
	s, d := r.src, r.src.dec
	if err := flushCodec(d.cc); err != nil {
		return err
	}
	if d.pending {
		d.pkt.Unref()
	}
	d.eof, d.sentEOF, d.pending, d.consecErrs = false, false, false, 0
	if err := d.fc.SeekFrame(d.vidx, r.pts[a], astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		return fmt.Errorf("read %s backwards: seek to frame %d: %w", s.info.Src, a, err)
	}
	for {
		err := d.receive(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s backwards: %w", s.info.Src, err)
		}
		r.stats.Decoded++
		ts := bestEffortTS(d.frm)
		if ts > r.pts[b] {
			d.frm.Unref()
			return nil
		}
		idx, ok := slices.BinarySearch(r.pts, ts)
		if !ok || idx < a || idx%s.opts.Stride != 0 {
			d.frm.Unref()
			continue
		}
		rgb, err := s.convertUprightInto(d.frm, r.buffer())
		d.frm.Unref()
		if err != nil {
			return fmt.Errorf("read %s backwards: frame %d: %w", s.info.Src, idx, err)
		}
		r.chunk = append(r.chunk, media.Frame{Index: idx, PTS: tsToDuration(ts-d.startPTS, d.tb), Image: media.Image{W: s.info.Width, H: s.info.Height, RGB: rgb}})
	}
}

// Close frees every native resource. It is idempotent.
func (r *Reverse) Close() error {
	if r == nil {
		return nil
	}
	r.chunk, r.bufs = nil, nil
	return r.src.Close()
}
