package streams

import (
	"bytes"
	"image"
	"image/jpeg"
	"sync"

	"samtrack/export"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/tracker"
)

// Latest keeps a job's newest tracked frame and its labels, and
// renders its overlay as JPEG on demand, once per frame however many
// clients watch. Setting a frame only copies it, so a job that nobody
// watches pays no encoding.
type Latest struct {
	mu     sync.Mutex
	seq    uint64 // 0: no frame yet
	index  int
	w, h   int
	rgb    []byte
	labels []uint16
	objs   []tracker.ObjectStats
	notify chan struct{} // closed and replaced by every set

	encMu   sync.Mutex // serialises encoding; guards the fields below
	jpegSeq uint64
	jpeg    []byte
	overlay []byte
	img     *image.RGBA
}

// NewLatest returns a Latest with no frame yet.
func NewLatest() *Latest { return &Latest{notify: make(chan struct{})} }

// Set records a tracked frame (copied: the pipeline reuses its buffers).
func (l *Latest) Set(f media.Frame, res *tracker.FrameResult) {
	if res == nil || res.Labels == nil || len(f.RGB) != f.W*f.H*3 || len(res.Labels.Pix) != f.W*f.H {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.index, l.w, l.h = f.Index, f.W, f.H
	l.rgb = append(l.rgb[:0], f.RGB...)
	l.labels = append(l.labels[:0], res.Labels.Pix...)
	l.objs = append(l.objs[:0], res.Objects...)
	close(l.notify)
	l.notify = make(chan struct{})
}

// Wait returns the current sequence number and a channel closed at the
// next Set.
func (l *Latest) Wait() (uint64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.notify
}

// JPEG returns the overlay of the newest frame (nil when there is none
// yet), its sequence number and frame index.
func (l *Latest) JPEG() ([]byte, uint64, int) {
	l.encMu.Lock()
	defer l.encMu.Unlock()
	l.mu.Lock()
	seq, index := l.seq, l.index
	if seq == 0 {
		l.mu.Unlock()
		return nil, 0, 0
	}
	if seq == l.jpegSeq {
		l.mu.Unlock()
		return l.jpeg, seq, index
	}
	w, h := l.w, l.h
	if len(l.overlay) != w*h*3 {
		l.overlay = make([]byte, w*h*3)
	}
	labels := &mask.LabelMap{W: w, H: h, Pix: l.labels}
	export.RenderOverlay(l.overlay, l.rgb, labels, l.objs)
	l.mu.Unlock()

	if l.img == nil || l.img.Rect.Dx() != w || l.img.Rect.Dy() != h {
		l.img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	rgbToRGBA(l.img.Pix, l.overlay)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, l.img, &jpeg.Options{Quality: 80}); err != nil {
		return nil, 0, 0
	}
	l.jpeg, l.jpegSeq = buf.Bytes(), seq
	return l.jpeg, seq, index
}

// rgbToRGBA expands packed RGB into opaque RGBA.
func rgbToRGBA(dst, src []byte) {
	for i, j := 0, 0; j+2 < len(src); i, j = i+4, j+3 {
		dst[i], dst[i+1], dst[i+2], dst[i+3] = src[j], src[j+1], src[j+2], 255
	}
}

// EncodeJPEG encodes a packed RGB picture.
func EncodeJPEG(w, h int, rgb []byte) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rgbToRGBA(img.Pix, rgb)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SetJPEG records a frame that arrives rendered already (a cluster worker's
// overlay, relayed by serve).
func (l *Latest) SetJPEG(index int, jpeg []byte) {
	l.encMu.Lock()
	defer l.encMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.index = index
	l.jpeg, l.jpegSeq = append([]byte(nil), jpeg...), l.seq
	close(l.notify)
	l.notify = make(chan struct{})
}
