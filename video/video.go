// Package video owns every pixel that enters or leaves samtrack as a moving
// picture: it opens a video file, a directory of still images or a stream URL
// and delivers its frames as packed RGB24 (Source), or backwards from a given
// frame in bounded memory (Reverse), and it encodes RGB frames
// into an H.264 MP4 for the overlay output (Writer). All cgo and FFmpeg
// (libavformat, libavcodec, libswscale through go-astiav) stays inside this
// package; every native object has a Close that frees it deterministically.
// Damaged input never panics: corrupt packets are skipped and counted in
// Stats, and a truncated source ends with an error wrapping ErrTruncated so
// partial output is never passed off as complete.
package video

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"samtrack/media"

	"github.com/asticode/go-astiav"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: the file, directory or URL does not exist.
	ErrNotFound = errors.New("video: source not found")
	// ErrNotVideo: FFmpeg cannot read the input as video (wrong file type,
	// unsupported codec, nothing decodable).
	ErrNotVideo = errors.New("video: not a readable video")
	// ErrNoVideoStream: the container opens but holds no video track
	// (e.g. an audio-only file).
	ErrNoVideoStream = errors.New("video: no video stream")
	// ErrTruncated: the input ends before its declared end; the frames
	// delivered before it are only part of the video. It also matches
	// io.ErrUnexpectedEOF.
	ErrTruncated = fmt.Errorf("video: source is truncated: %w", io.ErrUnexpectedEOF)
	// ErrNotSeekable: a URL's server does not let FFmpeg seek (no HTTP
	// range requests) in a file that needs it, such as an MP4 whose index
	// comes after its video data.
	ErrNotSeekable = errors.New("video: the server does not allow seeking in the file")
	// ErrStartPastEnd: Options.Start is at or after the input's end, so no
	// frame would be delivered.
	ErrStartPastEnd = errors.New("video: start past the end")
	// ErrEmptyDir: an image-directory source holds no .jpg/.jpeg/.png file.
	ErrEmptyDir = errors.New("video: directory has no images")
	// ErrClosed: the Source or Writer was already closed.
	ErrClosed = errors.New("video: use after Close")
)

const defaultTimeout = 10 * time.Second

// DefaultDirFPS is the frame rate assumed for image directories when
// Options.DirFPS is zero.
const DefaultDirFPS = 30.0

// Kind says what a source is.
type Kind string

const (
	KindFile Kind = "file"
	KindDir  Kind = "dir"
	KindURL  Kind = "url"
)

// Options control decoding. The zero value decodes every frame at full size.
type Options struct {
	// Start skips to this time from the start of the stream: the source
	// seeks to the preceding key frame and drops frames before Start.
	// Frame.Index stays the source's frame index: the first frame delivered
	// is numbered by its time (time x frame rate) for video, by its position
	// for image directories.
	Start time.Duration
	// MaxFrames stops after this many delivered frames (0: all).
	MaxFrames int
	// Stride delivers every Nth decoded frame from the first at or after
	// Start (0 or 1: all). Frame.Index keeps counting source frames, so
	// stride 2 gives 0, 2, 4, ...
	Stride int
	// MaxSide caps the longer side of the delivered frames; larger sources
	// are scaled down keeping their aspect ratio (0: no cap). Frames are
	// turned upright first (see Info.Rotation).
	MaxSide int
	// Threads is the number of decoder threads (0: one per core).
	Threads int
	// Timeout bounds network operations of URL sources (default 10 s).
	Timeout time.Duration
	// DirFPS is the frame rate given to image directories, which sets
	// Frame.PTS and how Start maps to images (default DefaultDirFPS).
	DirFPS float64
	// Logger receives warnings about damaged input (default slog.Default()).
	Logger *slog.Logger
	// MaxPixels refuses a source whose pictures are larger (width x height,
	// read from the stream header or the image header before decoding;
	// 0: no limit).
	MaxPixels int
	// HTTPProxy, for http(s) URLs, makes FFmpeg fetch through this proxy
	// (http://HOST:PORT; https goes through CONNECT). The service points it
	// at its address guard.
	HTTPProxy string
	// ReverseChunkBytes bounds the RGB pictures a Reverse holds at once
	// (0: DefaultReverseChunkBytes); Source ignores it.
	ReverseChunkBytes int
}

// Info describes an opened source.
type Info struct {
	Kind Kind
	Src  string
	// Width and Height of the delivered frames (upright, after MaxSide).
	Width, Height int
	// SrcWidth and SrcHeight of the source pictures as displayed (upright).
	SrcWidth, SrcHeight int
	// Rotation is the clockwise turn in degrees (0, 90, 180, 270) applied
	// to every picture so that frames are upright as players show them:
	// the stream's display matrix (phone video).
	Rotation int
	FPS      float64
	// Duration of the source as declared by the container (0: unknown).
	Duration time.Duration
	// Frames is the estimated number of frames in the whole source, before
	// Start, Stride and MaxFrames (0: unknown, e.g. a live stream).
	Frames int
	// Planned estimates how many frames Next will deliver: Frames after
	// Start, Stride and MaxFrames (0: unknown).
	Planned int
	// Codec is the decoder name (h264, hevc, mjpeg, png, ...).
	Codec string
}

// Stats counts what happened while decoding.
type Stats struct {
	// Decoded counts pictures the decoder produced. For video sources it
	// includes the frames dropped by Start and Stride (they must be decoded
	// anyway); image directories skip those files without reading them.
	Decoded int
	// Delivered counts frames returned by Next.
	Delivered int
	// SkippedBeforeStart counts decoded frames dropped because they precede
	// Options.Start.
	SkippedBeforeStart int
	// CorruptPackets counts packets that the demuxer flagged as damaged or
	// that the decoder rejected; rejected ones are skipped.
	CorruptPackets int
	// CorruptFrames counts pictures that failed to decode and were skipped
	// (for directories: image files that could not be read).
	CorruptFrames int
	// ConcealedFrames counts pictures decoded with errors that the decoder
	// concealed; they are delivered.
	ConcealedFrames int
	// ReadErrors counts demuxer read failures that were skipped.
	ReadErrors int
	// Ended is set once Next has reached the end of the source.
	Ended bool
	// Truncated is set when the source ended before its declared end (or on
	// a read failure): what was delivered is only part of the video.
	Truncated bool
}

// Complete reports whether the whole source was read without truncation.
func (s Stats) Complete() bool { return s.Ended && !s.Truncated }

// Source delivers the frames of a video file, image directory or URL. It is
// not safe for concurrent use. Close it to free its native resources.
type Source struct {
	opts  Options
	info  Info
	stats Stats
	log   *slog.Logger

	dec  *decoder
	conv *rgbConverter
	// convT converts a directory's images stored a quarter turn from the
	// working size (EXIF orientations 5-8), before they are turned.
	convT  *rgbConverter
	primed bool // dec.frm holds a decoded frame not yet consumed

	free [][]byte // recycled RGB buffers

	files    []string // image directory: sorted file names
	dirPos   int
	sizeWarn bool

	index    int // next Frame.Index
	base     int // Frame.Index of the first frame at or after Start
	based    bool
	orient   orientation // how every picture is turned upright (display matrix, a photo's EXIF)
	cw, ch   int         // converted size, before rotation
	rotBuf   []byte      // converted picture awaiting rotation
	lastPTS  time.Duration
	havePTS  bool
	done     error // terminal result repeated by later Next calls
	closed   bool
	startTol time.Duration
}

// Open opens src: a video file (anything FFmpeg demuxes), a directory of
// .jpg/.jpeg/.png images taken in name order, or a URL (http(s)://,
// rtsp:// ...). ctx bounds the opening (and for URLs aborts blocking
// network reads).
func Open(ctx context.Context, src string, opts Options) (*Source, error) {
	if err := validateOptions(opts); err != nil {
		return nil, fmt.Errorf("open %s: %w", src, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", src, err)
	}
	if opts.Stride <= 0 {
		opts.Stride = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.DirFPS <= 0 {
		opts.DirFPS = DefaultDirFPS
	}
	s := &Source{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}

	kind := KindFile
	if isURL(src) {
		kind = KindURL
	} else {
		st, err := os.Stat(src)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				where := ""
				if !filepath.IsAbs(src) {
					wd, _ := os.Getwd()
					where = fmt.Sprintf(" (relative paths start at %s)", wd)
				}
				return nil, fmt.Errorf("open %s: %w: no such file or directory%s; check the path", src, ErrNotFound, where)
			}
			return nil, fmt.Errorf("open %s: %w; check the path and its permissions", src, err)
		}
		if st.IsDir() {
			kind = KindDir
		}
	}
	s.info = Info{Kind: kind, Src: src}

	var err error
	if kind == KindDir {
		err = s.openDir(ctx, src)
	} else {
		err = s.openStream(ctx, src, kind)
	}
	if err == nil && s.opts.Start > 0 && s.info.Duration > 0 && s.opts.Start >= s.info.Duration {
		err = fmt.Errorf("open %s: %w: video.start %s is at or past the end of the input (%s long); give a start inside it",
			src, ErrStartPastEnd, s.opts.Start, s.info.Duration.Round(time.Millisecond))
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func validateOptions(o Options) error {
	switch {
	case o.Start < 0:
		return fmt.Errorf("invalid Options.Start %v: must be >= 0", o.Start)
	case o.MaxFrames < 0:
		return fmt.Errorf("invalid Options.MaxFrames %d: must be >= 0 (0 means all)", o.MaxFrames)
	case o.Stride < 0:
		return fmt.Errorf("invalid Options.Stride %d: must be >= 0 (0 or 1 means every frame)", o.Stride)
	case o.MaxSide < 0:
		return fmt.Errorf("invalid Options.MaxSide %d: must be >= 0 (0 means no cap)", o.MaxSide)
	case o.Threads < 0:
		return fmt.Errorf("invalid Options.Threads %d: must be >= 0 (0 means auto)", o.Threads)
	case o.DirFPS < 0 || math.IsNaN(o.DirFPS) || math.IsInf(o.DirFPS, 0):
		return fmt.Errorf("invalid Options.DirFPS %v: must be a positive frame rate or 0 for the default", o.DirFPS)
	}
	return nil
}

func isURL(src string) bool {
	i := strings.Index(src, "://")
	if i <= 0 {
		return false
	}
	for _, c := range src[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (s *Source) openStream(ctx context.Context, src string, kind Kind) error {
	d, err := openDecoder(ctx, src, kind, decoderOptions{threads: s.opts.Threads, timeout: s.opts.Timeout, log: s.log,
		maxPixels: s.opts.MaxPixels, httpProxy: s.opts.HTTPProxy})
	if err != nil {
		return err
	}
	s.dec = d
	par := d.stream.CodecParameters()
	w, h := par.Width(), par.Height()
	if w <= 0 || h <= 0 {
		// Size unknown until the first picture: decode it now.
		if err := d.receive(ctx); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("open %s: %w: no picture could be decoded from its video stream; check it with `ffprobe %s`", src, ErrNotVideo, src)
			}
			return fmt.Errorf("open %s: decode first frame: %w", src, err)
		}
		s.primed = true
		w, h = d.frm.Width(), d.frm.Height()
	}
	s.orient = rotationOrientation(streamRotation(d.stream))
	if s.orient == orientNone && kind == KindFile && (isJPEGName(src) || d.codec == "mjpeg") {
		s.orient = jpegFileOrientation(src) // a photo, whatever its name: its EXIF orientation
	}
	s.info.Rotation = s.orient.rotation()
	s.cw, s.ch = fitMaxSide(w, h, s.opts.MaxSide)
	s.info.SrcWidth, s.info.SrcHeight = w, h
	s.info.Width, s.info.Height = s.cw, s.ch
	if s.orient.swaps() {
		s.info.SrcWidth, s.info.SrcHeight = h, w
		s.info.Width, s.info.Height = s.ch, s.cw
	}
	s.info.FPS = d.fps
	s.info.Duration = d.duration
	s.info.Codec = d.codec
	if d.nbFrames > 0 {
		s.info.Frames = int(d.nbFrames)
	} else if d.fps > 0 && d.duration > 0 {
		s.info.Frames = int(math.Round(d.duration.Seconds() * d.fps))
	}
	s.info.Planned = s.planned(s.info.Frames, d.fps)
	s.conv = newRGBConverter(s.cw, s.ch)
	if d.fps > 0 {
		s.startTol = time.Duration(float64(time.Second) / d.fps / 2)
	}
	if s.opts.Start > 0 && !s.primed {
		if err := d.seek(s.opts.Start); err != nil {
			s.log.Warn("video: seek failed, decoding from the beginning and dropping frames before Start",
				"src", src, "start", s.opts.Start, "err", err)
		}
	}
	return nil
}

// Info describes the source.
func (s *Source) Info() Info { return s.info }

// Stats returns the counters so far.
func (s *Source) Stats() Stats {
	return s.dec.addCounts(s.stats)
}

// Next returns the next frame. It returns io.EOF after the last frame (or
// after MaxFrames), an error wrapping ErrTruncated when the source ended
// before its declared end, and ctx.Err() when ctx is cancelled. After the
// end every call returns the same error.
func (s *Source) Next(ctx context.Context) (media.Frame, error) {
	if s.closed {
		return media.Frame{}, fmt.Errorf("next frame of %s: %w", s.info.Src, ErrClosed)
	}
	if s.done != nil {
		return media.Frame{}, s.done
	}
	if err := ctx.Err(); err != nil {
		return media.Frame{}, err
	}
	if s.opts.MaxFrames > 0 && s.stats.Delivered >= s.opts.MaxFrames {
		s.done = io.EOF
		return media.Frame{}, io.EOF
	}
	if s.info.Kind == KindDir {
		return s.nextImage(ctx)
	}
	return s.nextVideo(ctx)
}

func (s *Source) nextVideo(ctx context.Context) (media.Frame, error) {
	d := s.dec
	for {
		if s.primed {
			s.primed = false
		} else if err := d.receive(ctx); err != nil {
			if errors.Is(err, io.EOF) {
				return media.Frame{}, s.finishVideo()
			}
			if ctx.Err() != nil {
				return media.Frame{}, err
			}
			s.done = err
			s.stats.Ended = true
			s.stats.Truncated = true
			return media.Frame{}, err
		}
		s.stats.Decoded++
		pts, ok := d.framePTS()
		if !ok {
			pts = s.lastPTS
			if s.havePTS && d.fps > 0 {
				pts += time.Duration(float64(time.Second) / d.fps)
			}
		}
		s.lastPTS, s.havePTS = pts, true
		if s.opts.Start > 0 && pts+s.startTol < s.opts.Start {
			s.stats.SkippedBeforeStart++
			d.frm.Unref()
			continue
		}
		if !s.based {
			s.based = true
			if rate := cmp.Or(d.avgFPS, d.fps); s.opts.Start > 0 && rate > 0 {
				s.index = int(math.Round(pts.Seconds() * rate))
			}
			s.base = s.index
		}
		idx := s.index
		s.index++
		if (idx-s.base)%s.opts.Stride != 0 {
			d.frm.Unref()
			continue
		}
		rgb, err := s.convertUpright(d.frm)
		d.frm.Unref()
		if err != nil {
			s.done = fmt.Errorf("decode %s: frame %d: %w", s.info.Src, idx, err)
			return media.Frame{}, s.done
		}
		s.stats.Delivered++
		return media.Frame{Index: idx, PTS: pts, Image: media.Image{W: s.info.Width, H: s.info.Height, RGB: rgb}}, nil
	}
}

// convertUpright converts a decoded picture to RGB at the working size and
// applies the stream's rotation.
func (s *Source) convertUpright(frm *astiav.Frame) ([]byte, error) {
	return s.convertUprightInto(frm, s.takeBuffer())
}

// convertUprightInto is convertUpright into dst (nil: a new buffer).
func (s *Source) convertUprightInto(frm *astiav.Frame, dst []byte) ([]byte, error) {
	return s.convertTurned(frm, s.conv, s.orient, dst)
}

// convertTurned converts frm with conv (at the picture's size as stored)
// and turns the result upright by o into dst.
func (s *Source) convertTurned(frm *astiav.Frame, conv *rgbConverter, o orientation, dst []byte) ([]byte, error) {
	if o == orientNone {
		return conv.convert(frm, dst)
	}
	rgb, err := conv.convert(frm, s.rotBuf)
	if err != nil {
		return nil, err
	}
	s.rotBuf = rgb
	return orientRGB(dst, rgb, conv.w, conv.h, o), nil
}

// planned estimates how many of a source's frames Next delivers.
func (s *Source) planned(frames int, fps float64) int {
	if frames <= 0 {
		return 0
	}
	if s.opts.Start > 0 {
		if fps <= 0 {
			return 0
		}
		frames -= int(math.Ceil(s.opts.Start.Seconds()*fps - 1e-6))
	}
	n := max(0, (frames+s.opts.Stride-1)/s.opts.Stride)
	if s.opts.MaxFrames > 0 {
		n = min(n, s.opts.MaxFrames)
	}
	return n
}

func (s *Source) finishVideo() error {
	d := s.dec
	s.stats.Ended = true
	if why, truncated := d.truncation(); truncated {
		s.stats.Truncated = true
		if seekable, known := inputSeekable(d.fc); s.info.Kind == KindURL && known && !seekable && s.stats.Delivered == 0 {
			// Not cut short: the demuxer needed to go back in a stream
			// that only goes forward, before the first picture.
			s.done = fmt.Errorf("read %s: %w (it answers without HTTP range requests), and this file needs it (%s): download it first, serve it from a server that supports range requests, or move an MP4's index to the front with `ffmpeg -i IN -c copy -movflags +faststart OUT`",
				s.info.Src, ErrNotSeekable, why)
			return s.done
		}
		s.done = fmt.Errorf("read %s: %w: %s; %d frames were delivered, which is only part of the video: fetch or record the file again",
			s.info.Src, ErrTruncated, why, s.stats.Delivered)
		return s.done
	}
	if s.stats.Decoded == 0 && d.corruptPackets+d.decodeErrors+d.readErrs > 0 {
		s.done = fmt.Errorf("read %s: %w: none of its pictures could be decoded (%d corrupt packets, %d decode errors); check it with `ffprobe %s` or re-encode it",
			s.info.Src, ErrNotVideo, d.corruptPackets, d.decodeErrors, s.info.Src)
		return s.done
	}
	s.done = io.EOF
	return io.EOF
}

// maxRecycled bounds the buffers a Source keeps for reuse.
const maxRecycled = 4

// Recycle hands the pixel buffer of a frame the caller has finished with
// back to the source, which fills it with a later frame instead of
// allocating a new one. Optional; it saves allocation and garbage-collection
// work. After Recycle the caller must not use f.RGB again.
func (s *Source) Recycle(f media.Frame) {
	n := s.info.Width * s.info.Height * 3
	if s.closed || n == 0 || cap(f.RGB) < n || len(s.free) >= maxRecycled {
		return
	}
	b := f.RGB[:n]
	for _, o := range s.free {
		if &o[0] == &b[0] { // recycled twice
			return
		}
	}
	s.free = append(s.free, b)
}

func (s *Source) takeBuffer() []byte {
	if len(s.free) == 0 {
		return nil
	}
	b := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	return b
}

// Close frees every native resource. It is idempotent.
func (s *Source) Close() error {
	if s == nil || s.closed {
		return nil
	}
	s.closed = true
	if s.dec != nil {
		s.dec.close()
		s.dec = nil
	}
	if s.conv != nil {
		s.conv.close()
		s.conv = nil
	}
	if s.convT != nil {
		s.convT.close()
		s.convT = nil
	}
	s.free = nil
	return nil
}

// isJPEGName reports whether name has a JPEG file's extension.
func isJPEGName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg":
		return true
	}
	return false
}

// imageExt reports whether name is an image the directory source reads.
func imageExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}
