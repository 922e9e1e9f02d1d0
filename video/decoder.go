package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// maxConsecutiveErrors bounds how many read or decode errors in a row are
// skipped before the source is declared broken.
const maxConsecutiveErrors = 500

// decoder demuxes one input (file, URL or single image) with libavformat and
// decodes its video stream with libavcodec. It owns every native object it
// allocates; close frees them.
type decoder struct {
	src  string
	kind Kind
	log  *slog.Logger

	fc          *astiav.FormatContext
	opened      bool // fc went through a successful OpenInput
	interrupter astiav.IOInterrupter
	cc          *astiav.CodecContext
	pkt         *astiav.Packet
	frm         *astiav.Frame

	stream   *astiav.Stream
	vidx     int
	tb       astiav.Rational
	startPTS int64 // stream start time in tb (0 when unknown)
	codec    string
	fps      float64
	avgFPS   float64 // frames over duration; numbers frames after a seek
	duration time.Duration
	// durationExact: duration is the video stream's own; otherwise it is
	// the container's, which may include a longer audio track.
	durationExact bool
	nbFrames      int64

	// progress
	sentEOF bool
	pending bool // pkt holds a packet the decoder refused with EAGAIN
	eof     bool
	lastEnd int64 // largest pts+duration of a video packet read, in tb
	haveEnd bool
	// otherEnd is the latest end of a packet of another track (audio,
	// subtitles), from that track's start: where the container's duration
	// is all the video has, a longer audio track explains it.
	otherEnd  time.Duration
	haveOther bool
	// the time base and start of every stream, by index
	tbs         []astiav.Rational
	starts      []int64
	readErrs    int
	lastReadErr error
	consecErrs  int

	// counters, copied into Stats by the owner
	corruptPackets int
	damagedFrames  int
	decodeErrors   int
}

type decoderOptions struct {
	threads int
	timeout time.Duration
	log     *slog.Logger
	// image: a single still picture; skip stream probing (the decoder
	// learns the size from the picture itself).
	image bool
	// maxPixels and httpProxy: see Options.
	maxPixels int
	httpProxy string
}

// ErrTooLarge: the pictures are over Options.MaxPixels.
var ErrTooLarge = errors.New("video: picture over the pixel limit")

// openDecoder opens src and prepares the decoder of its video stream. On
// error every native object is already freed.
func openDecoder(ctx context.Context, src string, kind Kind, o decoderOptions) (d *decoder, err error) {
	if kind == KindFile {
		// A still picture: FFmpeg's probe would decode it whole.
		if err := imageFileSize(src, o.maxPixels); err != nil {
			return nil, fmt.Errorf("open %w", err)
		}
	}
	d = &decoder{src: src, kind: kind, log: o.log, vidx: -1}
	defer func() {
		if err != nil {
			d.close()
			d = nil
		}
	}()

	if err := d.openInput(ctx, o); err != nil {
		return nil, err
	}
	if err := d.pickVideoStream(); err != nil {
		return nil, err
	}
	par := d.stream.CodecParameters()
	if w, h := par.Width(), par.Height(); o.maxPixels > 0 && w*h > o.maxPixels {
		return nil, fmt.Errorf("open %s: %w: %dx%d pictures are over the %d-pixel limit (video.max_pixels); scale the input down first", src, ErrTooLarge, w, h, o.maxPixels)
	}
	fr, err := d.openCodec(o.threads)
	if err != nil {
		return nil, err
	}
	d.readTiming(fr)
	d.pkt = astiav.AllocPacket()
	d.frm = astiav.AllocFrame()
	if d.pkt == nil || d.frm == nil {
		return nil, fmt.Errorf("open %s: cannot allocate packet/frame (out of memory?)", src)
	}
	return d, nil
}

// openInput opens the container (with network timeouts for a URL, and ctx
// interrupting a blocked open) and reads its stream information.
func (d *decoder) openInput(ctx context.Context, o decoderOptions) error {
	src := d.src
	d.fc = astiav.AllocFormatContext()
	if d.fc == nil {
		return fmt.Errorf("open %s: cannot allocate a format context (out of memory?)", src)
	}
	var dict *astiav.Dictionary
	if d.kind != KindURL && strings.Contains(src, "%") {
		// A file name, not a pattern: FFmpeg's image reader would take
		// img%d.jpg for img0.jpg, img1.jpg, ... and find none.
		dict = astiav.NewDictionary()
		defer dict.Free()
		_ = dict.Set("pattern_type", "none", 0)
	}
	if d.kind == KindURL {
		d.interrupter = d.fc.SetInterruptCallback()
		dict = urlOptions(src, o)
		defer dict.Free()
		stop := context.AfterFunc(ctx, d.interrupter.Interrupt)
		defer stop()
	}
	if err := d.fc.OpenInput(ffmpegPath(src), nil, dict); err != nil { // a URL as it is
		return classifyOpenError(ctx, src, d.kind, err)
	}
	d.opened = true
	if o.image {
		return nil // nothing to probe
	}
	if err := d.fc.FindStreamInfo(nil); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("open %s: %w", src, ctx.Err())
		}
		return fmt.Errorf("open %s: %w: FFmpeg could not read its stream information (%v); check the file with `ffprobe %s` or re-encode it", src, ErrNotVideo, err, src)
	}
	return nil
}

// ffmpegPath is a local path as FFmpeg must be given it: a relative name
// with a colon before its first slash (2024-12-05T10:30:00.mp4, cam1:door.mp4)
// would be read as a URL whose scheme is the part before the colon.
func ffmpegPath(p string) string {
	if isURL(p) {
		return p
	}
	if i := strings.IndexByte(p, ':'); i >= 0 && !filepath.IsAbs(p) && !strings.Contains(p[:i], "/") {
		return "./" + p
	}
	return p
}

// urlOptions are the demuxer options for a network source: timeouts, RTSP
// over TCP, and the HTTP proxy.
func urlOptions(src string, o decoderOptions) *astiav.Dictionary {
	dict := astiav.NewDictionary()
	timeout := o.timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	us := strconv.FormatInt(timeout.Microseconds(), 10)
	_ = dict.Set("timeout", us, 0)
	_ = dict.Set("rw_timeout", us, 0)
	if isRTSP(src) {
		_ = dict.Set("rtsp_transport", "tcp", 0)
	}
	if o.httpProxy != "" {
		_ = dict.Set("http_proxy", o.httpProxy, 0)
	}
	return dict
}

// pickVideoStream chooses the video stream to decode (not a cover picture).
func (d *decoder) pickVideoStream() error {
	idx, ok := selectVideoStream(d.fc)
	if !ok { // pointer check failed: plain scan, no discard
		idx = -1
		for _, s := range d.fc.Streams() {
			if s.CodecParameters().MediaType() == astiav.MediaTypeVideo {
				idx = s.Index()
				break
			}
		}
	}
	if idx < 0 {
		what := "no video stream"
		if idx == -2 {
			what = "only a cover picture, no video stream"
		}
		return fmt.Errorf("open %s: %w: it has %s (streams: %s); pass a file that contains a video track", d.src, ErrNoVideoStream, what, describeStreams(d.fc))
	}
	d.vidx = idx
	for _, st := range d.fc.Streams() {
		start := st.StartTime()
		if start == astiav.NoPtsValue {
			start = 0
		}
		d.tbs, d.starts = append(d.tbs, st.TimeBase()), append(d.starts, start)
	}
	d.stream = d.fc.Streams()[idx]
	d.tb = d.stream.TimeBase()
	if st := d.stream.StartTime(); st != astiav.NoPtsValue {
		d.startPTS = st
	}
	return nil
}

// openCodec opens the stream's decoder; it returns the guessed frame rate.
func (d *decoder) openCodec(threads int) (astiav.Rational, error) {
	src, par := d.src, d.stream.CodecParameters()
	codec := astiav.FindDecoder(par.CodecID())
	if codec == nil {
		return astiav.Rational{}, fmt.Errorf("open %s: %w: this FFmpeg build has no decoder for codec %q; re-encode the video to H.264 (ffmpeg -i %s -c:v libx264 out.mp4)", src, ErrNotVideo, par.CodecID().Name(), src)
	}
	d.codec = codec.Name()
	d.cc = astiav.AllocCodecContext(codec)
	if d.cc == nil {
		return astiav.Rational{}, fmt.Errorf("open %s: cannot allocate a %s decoder (out of memory?)", src, d.codec)
	}
	if err := par.ToCodecContext(d.cc); err != nil {
		return astiav.Rational{}, fmt.Errorf("open %s: copy stream parameters to the %s decoder: %w", src, d.codec, err)
	}
	d.cc.SetTimeBase(d.tb)
	d.cc.SetThreadCount(max(threads, 0)) // 0: FFmpeg picks one per core
	d.cc.SetThreadType(astiav.ThreadTypeFrame | astiav.ThreadTypeSlice)
	fr := d.fc.GuessFrameRate(d.stream, nil)
	d.cc.SetFramerate(fr)
	if err := d.cc.Open(codec, nil); err != nil {
		return astiav.Rational{}, fmt.Errorf("open %s: %w: cannot open the %s decoder (%v); re-encode the video to H.264", src, ErrNotVideo, d.codec, err)
	}
	return fr, nil
}

// readTiming records the frame rate, duration and frame count the container
// declares.
func (d *decoder) readTiming(fr astiav.Rational) {
	if fr.Num() > 0 && fr.Den() > 0 {
		d.fps = fr.Float64()
	}
	if dur := d.stream.Duration(); dur > 0 && dur != astiav.NoPtsValue {
		d.duration = tsToDuration(dur, d.tb)
		d.durationExact = true
	} else if fd := d.fc.Duration(); fd > 0 && fd != astiav.NoPtsValue {
		d.duration = time.Duration(fd) * time.Microsecond
		keepAudioStreams(d.fc) // see truncation
	}
	d.nbFrames = d.stream.NbFrames()
	if ar := d.stream.AvgFrameRate(); ar.Num() > 0 && ar.Den() > 0 {
		d.avgFPS = ar.Float64()
	}
}

func isRTSP(src string) bool {
	return len(src) >= 7 && (src[:7] == "rtsp://" || src[:7] == "RTSP://") ||
		len(src) >= 8 && (src[:8] == "rtsps://" || src[:8] == "RTSPS://")
}

func describeStreams(fc *astiav.FormatContext) string {
	out := ""
	for i, s := range fc.Streams() {
		if i > 0 {
			out += ", "
		}
		par := s.CodecParameters()
		out += fmt.Sprintf("#%d %s/%s", i, par.MediaType(), par.CodecID().Name())
	}
	if out == "" {
		return "none"
	}
	return out
}

func classifyOpenError(ctx context.Context, src string, kind Kind, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("open %s: %w (FFmpeg: %v)", src, ctx.Err(), err)
	}
	var ae astiav.Error
	if errors.As(err, &ae) {
		switch {
		case errors.Is(ae, astiav.ErrHttpNotFound) || int(ae) == -2: // ENOENT
			return fmt.Errorf("open %s: %w (FFmpeg: %v): check the path or URL", src, ErrNotFound, err)
		case errors.Is(ae, astiav.ErrInvaliddata):
			if kind == KindFile {
				if why, truncated := isoTruncated(src); truncated {
					return fmt.Errorf("open %s: %w: %s; the file is incomplete (interrupted download, copy or recording): fetch or record it again, or try to repair it (e.g. untrunc)", src, ErrTruncated, why)
				}
			}
			return fmt.Errorf("open %s: %w: FFmpeg does not recognise it as audio/video (%v); check it is really a video (`ffprobe %s`) and not another file type renamed", src, ErrNotVideo, err, src)
		case errors.Is(ae, astiav.ErrEtimedout) || errors.Is(ae, astiav.ErrExit):
			return fmt.Errorf("open %s: timed out or interrupted (%v): check the address is reachable, or raise Options.Timeout", src, err)
		case errors.Is(ae, astiav.ErrProtocolNotFound):
			return fmt.Errorf("open %s: %w: this FFmpeg build does not support the URL scheme (%v)", src, ErrNotVideo, err)
		}
	}
	if kind == KindURL {
		return fmt.Errorf("open %s: %v: check the URL and that the server is up and reachable", src, err)
	}
	return fmt.Errorf("open %s: %v: check that the file exists, is readable and is a video", src, err)
}

func tsToDuration(ts int64, tb astiav.Rational) time.Duration {
	if tb.Den() == 0 {
		return 0
	}
	return time.Duration(math.Round(float64(ts) * float64(tb.Num()) / float64(tb.Den()) * float64(time.Second)))
}

func durationToTS(d time.Duration, tb astiav.Rational) int64 {
	if tb.Num() == 0 {
		return 0
	}
	return int64(math.Round(d.Seconds() * float64(tb.Den()) / float64(tb.Num())))
}

// seek positions the demuxer at the key frame at or before t (from the
// start of the stream). Frames before t still come out and are dropped by
// the caller.
func (d *decoder) seek(t time.Duration) error {
	ts := d.startPTS + durationToTS(t, d.tb)
	if err := d.fc.SeekFrame(d.vidx, ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		return err
	}
	return nil
}

// framePTS returns the presentation time of the current frame from the start
// of the stream, and false when the frame carries no timestamp.
func (d *decoder) framePTS() (time.Duration, bool) {
	ts := bestEffortTS(d.frm)
	if ts == astiav.NoPtsValue {
		return 0, false
	}
	return tsToDuration(ts-d.startPTS, d.tb), true
}

func (d *decoder) warn(msg string, n int, args ...any) {
	// First few, then one in a hundred, so a badly damaged stream does not
	// flood the log.
	if n <= 5 || n%100 == 0 {
		d.log.Warn(msg, append([]any{"src", d.src, "count", n}, args...)...)
	}
}

// receive decodes the next frame into d.frm. It returns io.EOF once the
// decoder is drained, or a hard error. Corrupt packets and frames that fail
// to decode are counted and skipped.
func (d *decoder) receive(ctx context.Context) error {
	if d.eof {
		return io.EOF
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := d.cc.ReceiveFrame(d.frm)
		switch {
		case err == nil:
			d.consecErrs = 0
			if frameDamaged(d.frm) {
				d.damagedFrames++
				d.warn("video: frame decoded with errors (concealed), delivered anyway", d.damagedFrames)
			}
			return nil
		case errors.Is(err, astiav.ErrEof):
			d.eof = true
			return io.EOF
		case errors.Is(err, astiav.ErrEagain):
			if d.sentEOF {
				// Should not happen after a flush packet; avoid spinning.
				d.eof = true
				return io.EOF
			}
			if err := d.feed(ctx); err != nil {
				return err
			}
		default:
			d.decodeErrors++
			d.consecErrs++
			d.warn("video: frame failed to decode, skipped", d.decodeErrors, "err", err)
			if d.consecErrs > maxConsecutiveErrors {
				return fmt.Errorf("decode %s: %d consecutive decode errors (last: %v): the stream is too damaged to continue", d.src, d.consecErrs, err)
			}
		}
	}
}

// feed sends the next video packet (or the flush packet at the end of the
// input) to the decoder.
func (d *decoder) feed(ctx context.Context) error {
	if !d.pending {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			err := d.readPacket(ctx)
			if errors.Is(err, io.EOF) {
				d.sentEOF = true
				if err := d.cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
					return fmt.Errorf("decode %s: flush decoder: %w", d.src, err)
				}
				return nil
			}
			if err != nil {
				return err
			}
			if d.pkt.StreamIndex() != d.vidx {
				d.pkt.Unref()
				continue
			}
			break
		}
	}
	d.pending = false
	err := d.cc.SendPacket(d.pkt)
	if errors.Is(err, astiav.ErrEagain) {
		d.pending = true // decoder full: receive first, resend later
		return nil
	}
	d.pkt.Unref()
	if err != nil {
		d.corruptPackets++
		d.consecErrs++
		d.warn("video: corrupt packet rejected by the decoder, skipped", d.corruptPackets, "err", err)
		if d.consecErrs > maxConsecutiveErrors {
			return fmt.Errorf("decode %s: %d consecutive corrupt packets (last: %v): the stream is too damaged to continue", d.src, d.consecErrs, err)
		}
	}
	return nil
}

// readPacket reads the next packet into d.pkt. Damaged packets are skipped
// and counted; it returns io.EOF at the end of the input, including an end
// forced by a read failure (recorded in lastReadErr).
func (d *decoder) readPacket(ctx context.Context) error {
	if d.interrupter != nil {
		d.interrupter.Resume() // an earlier call may have been cancelled
		stop := context.AfterFunc(ctx, d.interrupter.Interrupt)
		defer stop()
	}
	for {
		err := d.fc.ReadFrame(d.pkt)
		if err == nil {
			if d.pkt.StreamIndex() == d.vidx {
				if d.pkt.Flags().Has(astiav.PacketFlagCorrupt) {
					d.corruptPackets++
					d.warn("video: demuxer flagged a corrupt packet", d.corruptPackets)
				}
				d.notePacketEnd()
			} else {
				d.noteOtherEnd()
			}
			return nil
		}
		if errors.Is(err, astiav.ErrEof) {
			return io.EOF
		}
		if ctx.Err() != nil {
			return fmt.Errorf("read %s: %w", d.src, ctx.Err())
		}
		d.readErrs++
		d.lastReadErr = err
		var ae astiav.Error
		if errors.As(err, &ae) && errors.Is(ae, astiav.ErrInvaliddata) && d.readErrs <= maxConsecutiveErrors*4 {
			d.warn("video: demuxer could not read a packet, skipped", d.readErrs, "err", err)
			continue
		}
		// I/O failure, timeout or endless garbage: the input ends here.
		d.log.Warn("video: input ended by a read error", "src", d.src, "err", err)
		return io.EOF
	}
}

// addCounts adds the decoder's damage counters to st (d may be nil).
func (d *decoder) addCounts(st Stats) Stats {
	if d != nil {
		st.CorruptPackets += d.corruptPackets
		st.CorruptFrames += d.decodeErrors
		st.ConcealedFrames += d.damagedFrames
		st.ReadErrors += d.readErrs
	}
	return st
}

func (d *decoder) notePacketEnd() {
	ts := d.pkt.Pts()
	if ts == astiav.NoPtsValue {
		ts = d.pkt.Dts()
	}
	if ts == astiav.NoPtsValue {
		return
	}
	end := ts + max(d.pkt.Duration(), 0)
	if !d.haveEnd || end > d.lastEnd {
		d.lastEnd = end
		d.haveEnd = true
	}
}

// noteOtherEnd records where a packet of another track ends.
func (d *decoder) noteOtherEnd() {
	i := d.pkt.StreamIndex()
	ts := d.pkt.Pts()
	if ts == astiav.NoPtsValue {
		ts = d.pkt.Dts()
	}
	if i < 0 || i >= len(d.tbs) || ts == astiav.NoPtsValue || d.tbs[i].Num() <= 0 || d.tbs[i].Den() <= 0 {
		return
	}
	end := tsToDuration(ts+max(d.pkt.Duration(), 0)-d.starts[i], d.tbs[i])
	if !d.haveOther || end > d.otherEnd {
		d.otherEnd, d.haveOther = end, true
	}
}

// truncation reports, once the input is exhausted, whether it ended before
// its declared end, and why.
func (d *decoder) truncation() (string, bool) {
	declared := d.duration
	var got time.Duration
	if d.haveEnd {
		got = tsToDuration(d.lastEnd-d.startPTS, d.tb)
	}
	tol := 100 * time.Millisecond
	if d.fps > 0 {
		tol = max(tol, time.Duration(2.5*float64(time.Second)/d.fps))
	}
	if !d.durationExact {
		// Container duration: other tracks may run longer than the video.
		tol = max(tol, time.Second, declared/20)
		if d.haveOther && d.otherEnd+tol >= declared {
			declared = 0 // they do: the file reaches its end, the video just stops first
		}
	}
	if declared > 0 && (!d.haveEnd || got+tol < declared) {
		msg := fmt.Sprintf("the video data stops at %s but the container declares %s", got.Round(time.Millisecond), declared.Round(time.Millisecond))
		if d.lastReadErr != nil {
			msg += fmt.Sprintf(" (last read error: %v)", d.lastReadErr)
		}
		return msg, true
	}
	if d.lastReadErr != nil && !errors.Is(d.lastReadErr, astiav.ErrInvaliddata) {
		return fmt.Sprintf("reading stopped on an error: %v", d.lastReadErr), true
	}
	return "", false
}

func (d *decoder) close() {
	if d == nil {
		return
	}
	if d.frm != nil {
		d.frm.Free()
		d.frm = nil
	}
	if d.pkt != nil {
		d.pkt.Free()
		d.pkt = nil
	}
	if d.cc != nil {
		d.cc.Free()
		d.cc = nil
	}
	if d.fc != nil {
		if d.opened {
			d.fc.CloseInput()
		}
		d.fc.Free()
		d.fc = nil
	}
	d.interrupter = nil
}
