package video

import (
	"fmt"

	"github.com/asticode/go-astiav"
)

// rgbConverter turns decoded frames of any pixel format and size into packed
// RGB24 of a fixed output size. The swscale context and the destination frame
// are created once and reused; they are rebuilt only when the source
// geometry, pixel format or colour description changes.
type rgbConverter struct {
	w, h int // output size
	sws  *astiav.SoftwareScaleContext
	key  convKey
	dst  *astiav.Frame
}

type convKey struct {
	w, h       int
	format     astiav.PixelFormat
	colorspace int
	fullRange  bool
}

func newRGBConverter(w, h int) *rgbConverter {
	return &rgbConverter{w: w, h: h}
}

// unJPEG maps FFmpeg's deprecated full-range "yuvj" formats (what JPEG and
// MJPEG decoders give) to the plain YUV format with the same layout, and
// reports whether it did. swscale handles a yuvj format only with a warning
// ("deprecated pixel format used") on every context; the range is given to
// it explicitly instead (swsSetSourceColors), which is what the warning asks.
func unJPEG(f astiav.PixelFormat) (astiav.PixelFormat, bool) {
	switch f {
	case astiav.PixelFormatYuvj411P:
		return astiav.PixelFormatYuv411P, true
	case astiav.PixelFormatYuvj420P:
		return astiav.PixelFormatYuv420P, true
	case astiav.PixelFormatYuvj422P:
		return astiav.PixelFormatYuv422P, true
	case astiav.PixelFormatYuvj440P:
		return astiav.PixelFormatYuv440P, true
	case astiav.PixelFormatYuvj444P:
		return astiav.PixelFormatYuv444P, true
	}
	return f, false
}

// scaleFlags picks the swscale algorithm: area averaging when shrinking
// (no aliasing), bilinear otherwise. Without a size change swscale uses its
// unscaled fast paths whatever the flag.
func scaleFlags(srcW, srcH, dstW, dstH int) astiav.SoftwareScaleContextFlags {
	if dstW < srcW || dstH < srcH {
		return astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagArea)
	}
	return astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBilinear)
}

func (c *rgbConverter) prepare(src *astiav.Frame) error {
	format, jpeg := unJPEG(src.PixelFormat())
	k := convKey{
		w:          src.Width(),
		h:          src.Height(),
		format:     format,
		colorspace: frameColorspace(src),
		fullRange:  frameFullRange(src) || jpeg,
	}
	if c.sws != nil && k == c.key {
		return nil
	}
	if k.w <= 0 || k.h <= 0 {
		return fmt.Errorf("decoded frame has invalid size %dx%d", k.w, k.h)
	}
	if c.sws != nil {
		c.sws.Free()
		c.sws = nil
	}
	sws, err := astiav.CreateSoftwareScaleContext(k.w, k.h, k.format, c.w, c.h, astiav.PixelFormatRgb24,
		scaleFlags(k.w, k.h, c.w, c.h))
	if err != nil {
		return fmt.Errorf("create RGB converter %dx%d %s -> %dx%d rgb24: %w", k.w, k.h, k.format, c.w, c.h, err)
	}
	swsSetSourceColors(sws, k.colorspace, k.fullRange)
	c.sws = sws
	c.key = k
	if c.dst == nil {
		c.dst = astiav.AllocFrame()
		c.dst.SetWidth(c.w)
		c.dst.SetHeight(c.h)
		c.dst.SetPixelFormat(astiav.PixelFormatRgb24)
		if err := c.dst.AllocBuffer(0); err != nil {
			return fmt.Errorf("allocate %dx%d RGB frame: %w", c.w, c.h, err)
		}
	}
	return nil
}

// convert scales and converts src into a tightly packed RGB24 buffer
// (W*3 bytes a row): buf when it is large enough, else a new one.
func (c *rgbConverter) convert(src *astiav.Frame, buf []byte) ([]byte, error) {
	if err := c.prepare(src); err != nil {
		return nil, err
	}
	n := c.w * c.h * 3
	out := buf[:0]
	if cap(out) < n {
		out = make([]byte, n)
	}
	out = out[:n]
	if err := c.sws.ScaleFrame(src, c.dst); err != nil {
		return nil, fmt.Errorf("convert frame to RGB: %w", err)
	}
	copyOutOfPlane(c.dst, out, c.w*3, c.h)
	return out, nil
}

func (c *rgbConverter) close() {
	if c == nil {
		return
	}
	if c.sws != nil {
		c.sws.Free()
		c.sws = nil
	}
	if c.dst != nil {
		c.dst.Free()
		c.dst = nil
	}
}

// fitMaxSide returns the working size for a w x h source under a cap on the
// longer side, keeping the aspect ratio. maxSide <= 0 means no cap.
func fitMaxSide(w, h, maxSide int) (int, int) {
	if maxSide <= 0 || (w <= maxSide && h <= maxSide) {
		return w, h
	}
	if w >= h {
		nh := (h*maxSide + w/2) / w
		return maxSide, max(nh, 1)
	}
	nw := (w*maxSide + h/2) / h
	return max(nw, 1), maxSide
}
