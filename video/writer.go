package video

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"samtrack/media"

	"github.com/asticode/go-astiav"
)

// Writer encodes RGB frames into an MP4 file: H.264 (libx264) in yuv420p,
// or MPEG-4 part 2 when this FFmpeg has no usable H.264 encoder. It is not
// safe for concurrent use. Close flushes the encoder and finishes the file;
// a file whose Writer was not closed is unplayable.
type Writer struct {
	path  string
	w, h  int // frame size accepted by WriteFrame
	ow    int // picture size in the file (before padding)
	oh    int
	ew    int // encoded size (even, as yuv420p requires)
	eh    int
	codec string

	fc     *astiav.FormatContext
	pb     *astiav.IOContext
	header bool
	cc     *astiav.CodecContext
	stream *astiav.Stream
	sws    *astiav.SoftwareScaleContext
	rgb    *astiav.Frame
	up     *scaler // frame size to picture size, when they differ
	yuv    *astiav.Frame
	pkt    *astiav.Packet

	pad []byte // staging rows when padding odd sizes
	// Timing: frames keep their source timestamps (Frame.PTS) from the
	// first one, in ticks of writerTimeBase; a frame whose PTS does not
	// advance gets the previous frame's duration.
	first   time.Duration
	started bool
	last    int64 // pts of the last frame written
	dur     int64 // duration of the last frame
	keep    bool  // absolute timestamps (WriterOptions.KeepPTS)
	audio   *audioCopier
	closed  bool
	err     error // sticky encoding error
}

// encoderChoice is one encoder to try, with its private options.
type encoderChoice struct {
	name string
	opts map[string]string
}

var writerEncoders = []encoderChoice{
	{"libx264", map[string]string{"preset": "veryfast", "crf": "18"}},
	{"libopenh264", map[string]string{"b": "8M"}},
	{"mpeg4", map[string]string{"b": "8M"}},
}

// writerTimeBase is the time base of the files a Writer makes (MPEG's 90 kHz
// clock), fine enough to keep any source's timestamps.
var writerTimeBase = astiav.NewRational(1, 90000)

// WriterOptions extend NewWriter for outputs that replace a source video
// frame for frame (samtrack remove). The zero value is NewWriter's
// behaviour: video only, timed from the first frame's timestamp.
type WriterOptions struct {
	// KeepPTS writes each frame at its own Frame.PTS, not shifted to start
	// at 0, so the output keeps the source's timestamps and stays aligned
	// with AudioFrom; PTS must increase from frame to frame.
	KeepPTS bool
	// AudioFrom is a video file whose first audio stream is copied into the
	// output unchanged (no re-encoding), aligned with Frame.PTS. A file
	// without audio is allowed: the output then has none either.
	AudioFrom string
	// CRF is libx264's constant rate factor (lower: better; 0: 18, the
	// overlay's). Other encoders ignore it.
	CRF int
}

// NewWriter creates path (an MP4) for w x h frames; fps is the nominal
// frame rate, the frames' own timestamps (Frame.PTS) time the video. Odd
// sizes are padded to even (yuv420p needs even sizes) by repeating the last
// column/row.
func NewWriter(path string, w, h int, fps float64) (*Writer, error) {
	return NewScaledWriterWith(path, w, h, w, h, fps, WriterOptions{})
}

// NewWriterWith is NewWriter with options: source timestamps and a copied
// audio stream.
func NewWriterWith(path string, w, h int, fps float64, opts WriterOptions) (*Writer, error) {
	return NewScaledWriterWith(path, w, h, w, h, fps, opts)
}

// NewScaledWriter is NewWriter for w x h frames stored as outW x outH
// pictures (scaled bilinearly; padded to even sizes).
func NewScaledWriter(path string, w, h, outW, outH int, fps float64) (*Writer, error) {
	return NewScaledWriterWith(path, w, h, outW, outH, fps, WriterOptions{})
}

// NewScaledWriterWith is NewScaledWriter with options.
func NewScaledWriterWith(path string, w, h, outW, outH int, fps float64, opts WriterOptions) (_ *Writer, err error) {
	if err := checkWriterArgs(w, h, outW, outH, fps, opts.CRF); err != nil {
		return nil, fmt.Errorf("create video %s: %w", path, err)
	}
	wr := &Writer{path: path, w: w, h: h, ow: outW, oh: outH, ew: (outW + 1) &^ 1, eh: (outH + 1) &^ 1,
		dur: int64(math.Round(90000 / fps)), keep: opts.KeepPTS}
	defer func() {
		if err != nil {
			wr.free()
		}
	}()

	fc, err := astiav.AllocOutputFormatContext(nil, "mp4", path)
	if err != nil || fc == nil {
		return nil, fmt.Errorf("create video %s: mp4 muxer unavailable in this FFmpeg: %v", path, err)
	}
	wr.fc = fc

	rate := fpsRational(fps)
	tb := writerTimeBase
	var tried []string
	if wr.cc, wr.codec, tried, err = openEncoder(fc, wr.ew, wr.eh, tb, rate, fps, opts.CRF); err != nil {
		return nil, fmt.Errorf("create video %s: %w", path, err)
	}
	if wr.codec != "libx264" && wr.codec != "libopenh264" {
		slog.Warn("video: no H.264 encoder available, writing MPEG-4 part 2 instead (plays in fewer browsers)",
			"path", path, "encoder", wr.codec, "tried", tried)
	}

	if err := wr.addStream(fc, tb, rate, opts.AudioFrom); err != nil {
		return nil, fmt.Errorf("create video %s: %w", path, err)
	}

	if !fc.OutputFormat().Flags().Has(astiav.IOFormatFlagNofile) {
		pb, err := astiav.OpenIOContext(ffmpegPath(path), astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
		if err != nil {
			return nil, fmt.Errorf("create video %s: %w; check that the directory exists and is writable", path, err)
		}
		fc.SetPb(pb)
		wr.pb = pb
	}
	if err := fc.WriteHeader(nil); err != nil {
		return nil, fmt.Errorf("create video %s: write mp4 header: %w", path, err)
	}
	wr.header = true

	if err := wr.allocConversion(w, h, outW, outH); err != nil {
		return nil, fmt.Errorf("create video %s: %w", path, err)
	}
	return wr, nil
}

// addStream adds the video stream (and the copied audio, if any) to the muxer.
func (wr *Writer) addStream(fc *astiav.FormatContext, tb, rate astiav.Rational, audioFrom string) (err error) {
	wr.stream = fc.NewStream(nil)
	if wr.stream == nil {
		return errors.New("cannot add a stream to the mp4 muxer")
	}
	if err := wr.stream.CodecParameters().FromCodecContext(wr.cc); err != nil {
		return fmt.Errorf("copy encoder parameters: %w", err)
	}
	wr.stream.SetTimeBase(tb)
	wr.stream.SetAvgFrameRate(rate)
	wr.stream.SetRFrameRate(rate)
	if audioFrom != "" {
		if wr.audio, err = newAudioCopier(audioFrom, fc); err != nil {
			return err
		}
	}
	return nil
}

// allocConversion sets up the RGB-to-YUV converter and its frames, the
// padding buffer for odd sizes and the upscaler from the working size.
func (wr *Writer) allocConversion(w, h, outW, outH int) (err error) {
	wr.sws, err = astiav.CreateSoftwareScaleContext(wr.ew, wr.eh, astiav.PixelFormatRgb24, wr.ew, wr.eh,
		astiav.PixelFormatYuv420P, astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBilinear))
	if err != nil {
		return fmt.Errorf("RGB to YUV converter: %w", err)
	}
	wr.rgb = astiav.AllocFrame()
	wr.rgb.SetWidth(wr.ew)
	wr.rgb.SetHeight(wr.eh)
	wr.rgb.SetPixelFormat(astiav.PixelFormatRgb24)
	if err := wr.rgb.AllocBuffer(0); err != nil {
		return fmt.Errorf("allocate RGB frame: %w", err)
	}
	wr.yuv = astiav.AllocFrame()
	wr.pkt = astiav.AllocPacket()
	if wr.ew != outW || wr.eh != outH {
		wr.pad = make([]byte, wr.ew*wr.eh*3)
	}
	if outW != w || outH != h {
		if wr.up, err = newScaler(w, h, outW, outH); err != nil {
			return err
		}
	}
	return nil
}

func checkWriterArgs(w, h, outW, outH int, fps float64, crf int) error {
	if crf < 0 || crf > 51 {
		return fmt.Errorf("CRF %d out of range: use 1-51 (lower is better quality)", crf)
	}
	for _, sz := range [][2]int{{w, h}, {outW, outH}} {
		if sz[0] <= 0 || sz[1] <= 0 || sz[0] > 16384 || sz[1] > 16384 {
			return fmt.Errorf("invalid frame size %dx%d: both sides must be in 1..16384", sz[0], sz[1])
		}
	}
	if !(fps > 0) || math.IsInf(fps, 0) || fps > 1000 {
		return fmt.Errorf("invalid frame rate %v: must be in (0, 1000]", fps)
	}
	return nil
}

// openEncoder opens the first usable encoder of writerEncoders for w x h
// yuv420p frames; tried lists the ones that were not usable and why.
func openEncoder(fc *astiav.FormatContext, w, h int, tb, rate astiav.Rational, fps float64, crf int) (_ *astiav.CodecContext, name string, tried []string, _ error) {
	for _, choice := range writerEncoders {
		codec := astiav.FindEncoderByName(choice.name)
		if codec == nil {
			tried = append(tried, choice.name+" (absent)")
			continue
		}
		cc := astiav.AllocCodecContext(codec)
		if cc == nil {
			return nil, "", tried, fmt.Errorf("cannot allocate the %s encoder (out of memory?)", choice.name)
		}
		cc.SetWidth(w)
		cc.SetHeight(h)
		cc.SetPixelFormat(astiav.PixelFormatYuv420P)
		cc.SetTimeBase(tb)
		cc.SetFramerate(rate)
		cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
		cc.SetGopSize(int(math.Max(1, math.Round(fps*2))))
		if fc.OutputFormat().Flags().Has(astiav.IOFormatFlagGlobalheader) {
			cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
		}
		dict := astiav.NewDictionary()
		for k, v := range choice.opts {
			_ = dict.Set(k, v, 0)
		}
		if crf > 0 && choice.name == "libx264" {
			_ = dict.Set("crf", fmt.Sprint(crf), 0)
		}
		oerr := cc.Open(codec, dict)
		dict.Free()
		if oerr != nil {
			cc.Free()
			tried = append(tried, fmt.Sprintf("%s (%v)", choice.name, oerr))
			continue
		}
		return cc, choice.name, tried, nil
	}
	return nil, "", tried, fmt.Errorf("no usable encoder (tried %v): install an FFmpeg with libx264", tried)
}

// fpsRational turns a frame rate into a rational, recognising the NTSC
// family (24000/1001, 30000/1001, ...).
func fpsRational(fps float64) astiav.Rational {
	if r := math.Round(fps); math.Abs(fps-r) < 1e-6 {
		return astiav.NewRational(int(r), 1)
	}
	if n := math.Round(fps * 1001 / 1000); math.Abs(fps-n*1000/1001) < 1e-3 {
		return astiav.NewRational(int(n*1000), 1001)
	}
	return astiav.NewRational(int(math.Round(fps*1000)), 1000)
}

// Codec names the encoder in use (libx264, or a fallback).
func (wr *Writer) Codec() string { return wr.codec }

// AudioPackets counts the audio packets copied so far (0 without audio).
func (wr *Writer) AudioPackets() int {
	if wr.audio == nil {
		return 0
	}
	return wr.audio.copied
}

// EncodedSize is the size of the video in the file: the picture size
// rounded up to even numbers.
func (wr *Writer) EncodedSize() (w, h int) { return wr.ew, wr.eh }

// WriteFrame encodes f, which must be W x H packed RGB24 as given to
// NewWriter.
func (wr *Writer) WriteFrame(f media.Frame) error {
	if wr.closed {
		return fmt.Errorf("write frame to %s: %w", wr.path, ErrClosed)
	}
	if wr.err != nil {
		return wr.err
	}
	if f.W != wr.w || f.H != wr.h {
		return fmt.Errorf("write frame %d to %s: frame is %dx%d but the writer was created for %dx%d; scale frames to one size", f.Index, wr.path, f.W, f.H, wr.w, wr.h)
	}
	if len(f.RGB) < wr.w*wr.h*3 {
		return fmt.Errorf("write frame %d to %s: RGB holds %d bytes, %dx%d RGB24 needs %d", f.Index, wr.path, len(f.RGB), wr.w, wr.h, wr.w*wr.h*3)
	}
	src := f.RGB
	if wr.up != nil {
		var err error
		if src, err = wr.up.scale(src); err != nil {
			return wr.fail(fmt.Errorf("write frame %d to %s: %w", f.Index, wr.path, err))
		}
	}
	if wr.pad != nil {
		padRGB(wr.pad, src, wr.ow, wr.oh, wr.ew, wr.eh)
		src = wr.pad
	}
	copyIntoPlane(wr.rgb, src, wr.ew*3, wr.eh)
	if err := wr.sws.ScaleFrame(wr.rgb, wr.yuv); err != nil {
		return wr.fail(fmt.Errorf("write frame %d to %s: convert to yuv420p: %w", f.Index, wr.path, err))
	}
	pts, err := wr.pts(f)
	if err != nil {
		return err
	}
	if wr.audio != nil {
		if err := wr.audio.pump(wr.fc, f.PTS); err != nil {
			return wr.fail(err)
		}
	}
	wr.yuv.SetPts(pts)
	err = wr.cc.SendFrame(wr.yuv)
	// The encoder keeps its own reference; drop ours so the next frame gets
	// a fresh buffer.
	wr.yuv.Unref()
	if err != nil {
		return wr.fail(fmt.Errorf("write frame %d to %s: encode: %w", f.Index, wr.path, err))
	}
	return wr.drain()
}

// pts places frame f at its timestamp from the first frame's, in ticks
// of writerTimeBase; one that does not advance follows the previous frame
// by that frame's duration. With WriterOptions.KeepPTS the timestamp is
// kept as it is and must advance.
func (wr *Writer) pts(f media.Frame) (int64, error) {
	t := f.PTS
	if wr.keep {
		p := durationToTS(t, writerTimeBase)
		if wr.started && p <= wr.last {
			return 0, fmt.Errorf("write frame %d to %s: timestamp %v is not after the previous frame's; frames must come in presentation order", f.Index, wr.path, t)
		}
		if wr.started {
			wr.dur = p - wr.last
		}
		wr.started, wr.last = true, p
		return p, nil
	}
	if !wr.started {
		wr.started, wr.first, wr.last = true, t, 0
		return 0, nil
	}
	p := int64(math.Round((t - wr.first).Seconds() * 90000))
	if p <= wr.last {
		p = wr.last + wr.dur
	}
	wr.dur, wr.last = p-wr.last, p
	return p, nil
}

func (wr *Writer) fail(err error) error {
	wr.err = err
	return err
}

// drain moves every finished packet from the encoder into the file.
func (wr *Writer) drain() error {
	for {
		err := wr.cc.ReceivePacket(wr.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return wr.fail(fmt.Errorf("write %s: encode: %w", wr.path, err))
		}
		wr.pkt.SetStreamIndex(wr.stream.Index())
		if wr.pkt.Duration() <= 0 {
			wr.pkt.SetDuration(wr.dur) // times the last frame
		}
		wr.pkt.RescaleTs(wr.cc.TimeBase(), wr.stream.TimeBase())
		err = wr.fc.WriteInterleavedFrame(wr.pkt)
		wr.pkt.Unref()
		if err != nil {
			return wr.fail(fmt.Errorf("write %s: mux: %w; check free disk space", wr.path, err))
		}
	}
}

// Close flushes the encoder, writes the MP4 index and frees every native
// resource. It is idempotent; the first call reports any failure.
func (wr *Writer) Close() error {
	if wr == nil || wr.closed {
		return nil
	}
	wr.closed = true
	var err error
	if wr.err == nil && wr.cc != nil {
		if serr := wr.cc.SendFrame(nil); serr != nil && !errors.Is(serr, astiav.ErrEof) {
			err = fmt.Errorf("close %s: flush encoder: %w", wr.path, serr)
		} else {
			err = wr.drain()
		}
		if err == nil && wr.audio != nil {
			err = wr.audio.pump(wr.fc, -1)
		}
	} else {
		err = wr.err
	}
	if wr.header {
		if terr := wr.fc.WriteTrailer(); terr != nil && err == nil {
			err = fmt.Errorf("close %s: write mp4 index: %w", wr.path, terr)
		}
	}
	if cerr := wr.free(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

func (wr *Writer) free() error {
	var err error
	if wr.pkt != nil {
		wr.pkt.Free()
		wr.pkt = nil
	}
	if wr.yuv != nil {
		wr.yuv.Free()
		wr.yuv = nil
	}
	if wr.rgb != nil {
		wr.rgb.Free()
		wr.rgb = nil
	}
	if wr.sws != nil {
		wr.sws.Free()
		wr.sws = nil
	}
	wr.up.close()
	wr.up = nil
	wr.audio.close()
	wr.audio = nil
	if wr.cc != nil {
		wr.cc.Free()
		wr.cc = nil
	}
	if wr.pb != nil {
		// Flushes and closes the file; the muxer never touches it again.
		if cerr := wr.pb.Close(); cerr != nil {
			err = fmt.Errorf("close %s: %w; check free disk space", wr.path, cerr)
		}
		wr.pb = nil
	}
	if wr.fc != nil {
		wr.fc.Free()
		wr.fc = nil
	}
	return err
}

// padRGB copies a w x h RGB image into a ew x eh one, repeating the last
// column and row.
func padRGB(dst, src []byte, w, h, ew, eh int) {
	for y := 0; y < eh; y++ {
		sy := min(y, h-1)
		row := dst[y*ew*3 : (y+1)*ew*3]
		copy(row, src[sy*w*3:(sy+1)*w*3])
		for x := w; x < ew; x++ {
			copy(row[x*3:x*3+3], row[(w-1)*3:w*3])
		}
	}
}

// scaler resizes packed RGB24 images of one size to another (bilinear).
type scaler struct {
	w, h, ow, oh int
	sws          *astiav.SoftwareScaleContext
	src, dst     *astiav.Frame
	out          []byte
}

func newScaler(w, h, ow, oh int) (*scaler, error) {
	s := &scaler{w: w, h: h, ow: ow, oh: oh, out: make([]byte, ow*oh*3)}
	var err error
	s.sws, err = astiav.CreateSoftwareScaleContext(w, h, astiav.PixelFormatRgb24, ow, oh, astiav.PixelFormatRgb24,
		astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBilinear))
	if err != nil {
		return nil, fmt.Errorf("RGB scaler %dx%d to %dx%d: %w", w, h, ow, oh, err)
	}
	s.src, s.dst = astiav.AllocFrame(), astiav.AllocFrame()
	for _, f := range []struct {
		fr   *astiav.Frame
		w, h int
	}{{s.src, w, h}, {s.dst, ow, oh}} {
		f.fr.SetWidth(f.w)
		f.fr.SetHeight(f.h)
		f.fr.SetPixelFormat(astiav.PixelFormatRgb24)
		if err := f.fr.AllocBuffer(0); err != nil {
			s.close()
			return nil, fmt.Errorf("allocate %dx%d RGB frame: %w", f.w, f.h, err)
		}
	}
	return s, nil
}

// scale returns rgb resized; the result is reused by the next call.
func (s *scaler) scale(rgb []byte) ([]byte, error) {
	copyIntoPlane(s.src, rgb, s.w*3, s.h)
	if err := s.sws.ScaleFrame(s.src, s.dst); err != nil {
		return nil, fmt.Errorf("scale %dx%d to %dx%d: %w", s.w, s.h, s.ow, s.oh, err)
	}
	copyOutOfPlane(s.dst, s.out, s.ow*3, s.oh)
	return s.out, nil
}

func (s *scaler) close() {
	if s == nil {
		return
	}
	if s.sws != nil {
		s.sws.Free()
	}
	if s.src != nil {
		s.src.Free()
	}
	if s.dst != nil {
		s.dst.Free()
	}
}
