package video

import (
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/asticode/go-astiav"
)

// Writer encodes RGB frames into an MP4 file: H.264 (libx264) in yuv420p,
// or MPEG-4 part 2 when this FFmpeg has no usable H.264 encoder. It is not
// safe for concurrent use. Close flushes the encoder and finishes the file;
// a file whose Writer was not closed is unplayable.
type Writer struct {
	path  string
	w, h  int // frame size accepted by WriteFrame
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
	yuv    *astiav.Frame
	pkt    *astiav.Packet

	pad    []byte // staging rows when padding odd sizes
	next   int64  // pts of the next frame, in encoder time base
	keep   bool   // frames carry their own timestamps (WriterOptions.KeepPTS)
	audio  *audioCopier
	closed bool
	err    error // sticky encoding error
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

// WriterOptions extend NewWriter for outputs that replace a source video
// frame for frame (samtrack remove). The zero value is NewWriter's
// behaviour: frames at a constant fps from 0, video only.
type WriterOptions struct {
	// KeepPTS writes each frame at its Frame.PTS (in a 1/90000 s time base)
	// instead of at a constant rate, so the output keeps the source's
	// timestamps; PTS must increase from frame to frame.
	KeepPTS bool
	// AudioFrom is a video file whose first audio stream is copied into the
	// output unchanged (no re-encoding), aligned with Frame.PTS. A file
	// without audio is allowed: the output then has none either.
	AudioFrom string
	// CRF is libx264's constant rate factor (lower: better; 0: 18, the
	// overlay's). Other encoders ignore it.
	CRF int
}

// keepPTSTimeBase is the output time base with WriterOptions.KeepPTS: the
// MPEG 90 kHz clock, exact for every common frame rate.
func keepPTSTimeBase() astiav.Rational { return astiav.NewRational(1, 90000) }

// NewWriter creates path (an MP4) for w x h frames at fps frames a second.
// Odd sizes are padded to even (yuv420p needs even sizes) by repeating the
// last column/row.
func NewWriter(path string, w, h int, fps float64) (*Writer, error) {
	return NewWriterWith(path, w, h, fps, WriterOptions{})
}

// NewWriterWith is NewWriter with options: source timestamps and a copied
// audio stream.
func NewWriterWith(path string, w, h int, fps float64, opts WriterOptions) (_ *Writer, err error) {
	if w <= 0 || h <= 0 || w > 16384 || h > 16384 {
		return nil, fmt.Errorf("create video %s: invalid frame size %dx%d: both sides must be in 1..16384", path, w, h)
	}
	if opts.CRF < 0 || opts.CRF > 51 {
		return nil, fmt.Errorf("create video %s: CRF %d out of range: use 1-51 (lower is better quality)", path, opts.CRF)
	}
	if !(fps > 0) || math.IsInf(fps, 0) || fps > 1000 {
		return nil, fmt.Errorf("create video %s: invalid frame rate %v: must be in (0, 1000]", path, fps)
	}
	wr := &Writer{path: path, w: w, h: h, ew: (w + 1) &^ 1, eh: (h + 1) &^ 1, keep: opts.KeepPTS}
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
	tb := astiav.NewRational(rate.Den(), rate.Num())
	if opts.KeepPTS {
		tb = keepPTSTimeBase()
	}
	var tried []string
	if wr.cc, wr.codec, tried, err = openEncoder(fc, wr.ew, wr.eh, tb, rate, fps, opts.CRF); err != nil {
		return nil, fmt.Errorf("create video %s: %w", path, err)
	}
	if wr.codec != "libx264" && wr.codec != "libopenh264" {
		slog.Warn("video: no H.264 encoder available, writing MPEG-4 part 2 instead (plays in fewer browsers)",
			"path", path, "encoder", wr.codec, "tried", tried)
	}

	wr.stream = fc.NewStream(nil)
	if wr.stream == nil {
		return nil, fmt.Errorf("create video %s: cannot add a stream to the mp4 muxer", path)
	}
	if err := wr.stream.CodecParameters().FromCodecContext(wr.cc); err != nil {
		return nil, fmt.Errorf("create video %s: copy encoder parameters: %w", path, err)
	}
	wr.stream.SetTimeBase(tb)
	wr.stream.SetAvgFrameRate(rate)
	wr.stream.SetRFrameRate(rate)
	if opts.AudioFrom != "" {
		if wr.audio, err = newAudioCopier(opts.AudioFrom, fc); err != nil {
			return nil, fmt.Errorf("create video %s: %w", path, err)
		}
	}

	if !fc.OutputFormat().Flags().Has(astiav.IOFormatFlagNofile) {
		pb, err := astiav.OpenIOContext(path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
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

	wr.sws, err = astiav.CreateSoftwareScaleContext(wr.ew, wr.eh, astiav.PixelFormatRgb24, wr.ew, wr.eh,
		astiav.PixelFormatYuv420P, astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBilinear))
	if err != nil {
		return nil, fmt.Errorf("create video %s: RGB to YUV converter: %w", path, err)
	}
	wr.rgb = astiav.AllocFrame()
	wr.rgb.SetWidth(wr.ew)
	wr.rgb.SetHeight(wr.eh)
	wr.rgb.SetPixelFormat(astiav.PixelFormatRgb24)
	if err := wr.rgb.AllocBuffer(0); err != nil {
		return nil, fmt.Errorf("create video %s: allocate RGB frame: %w", path, err)
	}
	wr.yuv = astiav.AllocFrame()
	wr.pkt = astiav.AllocPacket()
	if wr.ew != w || wr.eh != h {
		wr.pad = make([]byte, wr.ew*wr.eh*3)
	}
	return wr, nil
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

// AudioPackets counts the audio packets copied so far (0 without audio).
func (wr *Writer) AudioPackets() int {
	if wr.audio == nil {
		return 0
	}
	return wr.audio.copied
}

// Codec names the encoder in use (libx264, or a fallback).
func (wr *Writer) Codec() string { return wr.codec }

// EncodedSize is the size of the video in the file: the frame size rounded
// up to even numbers.
func (wr *Writer) EncodedSize() (w, h int) { return wr.ew, wr.eh }

// WriteFrame encodes f, which must be W x H packed RGB24 as given to
// NewWriter.
func (wr *Writer) WriteFrame(f Frame) error {
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
	if wr.pad != nil {
		padRGB(wr.pad, f.RGB, wr.w, wr.h, wr.ew, wr.eh)
		src = wr.pad
	}
	copyIntoPlane(wr.rgb, src, wr.ew*3, wr.eh)
	if err := wr.sws.ScaleFrame(wr.rgb, wr.yuv); err != nil {
		return wr.fail(fmt.Errorf("write frame %d to %s: convert to yuv420p: %w", f.Index, wr.path, err))
	}
	pts := wr.next
	if wr.keep {
		pts = durationToTS(f.PTS, keepPTSTimeBase())
		if pts < wr.next {
			return fmt.Errorf("write frame %d to %s: timestamp %v is not after the previous frame's; frames must come in presentation order", f.Index, wr.path, f.PTS)
		}
	}
	if wr.audio != nil {
		if err := wr.audio.pump(wr.fc, f.PTS); err != nil {
			return wr.fail(err)
		}
	}
	wr.yuv.SetPts(pts)
	wr.next = pts + 1
	err := wr.cc.SendFrame(wr.yuv)
	// The encoder keeps its own reference; drop ours so the next frame gets
	// a fresh buffer.
	wr.yuv.Unref()
	if err != nil {
		return wr.fail(fmt.Errorf("write frame %d to %s: encode: %w", f.Index, wr.path, err))
	}
	return wr.drain()
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
	} else {
		err = wr.err
	}
	if err == nil && wr.audio != nil {
		err = wr.audio.pump(wr.fc, -1)
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
	wr.audio.close()
	wr.audio = nil
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
