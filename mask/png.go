package mask

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// maxPNGPixels bounds the size of a label PNG we agree to decode, so that a
// corrupt or hostile header cannot make us allocate gigabytes.
const maxPNGPixels = 1 << 26 // 8192x8192

// DavisPalette returns the 256-entry DAVIS palette (the PASCAL VOC colormap
// of davis2017-evaluation's utils.color_map): for index i, bits 0, 1 and 2
// go to the top bit of R, G and B, then i is shifted right by 3 and fills the
// next lower bit, for 8 rounds. 1=(128,0,0), 2=(0,128,0), 3=(128,128,0),
// 8=(64,0,0), 255=(224,224,192). Every entry is opaque.
func DavisPalette() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		var r, g, b uint8
		c := i
		for j := 7; j >= 0; j-- {
			r |= uint8(c&1) << j
			g |= uint8((c>>1)&1) << j
			b |= uint8((c>>2)&1) << j
			c >>= 3
		}
		p[i] = color.RGBA{R: r, G: g, B: b, A: 0xff}
	}
	return p
}

// WritePalettePNG writes l as a DAVIS-style label PNG: 8-bit indexed (colour
// type 3) with all 256 palette entries and no tRNS chunk, the pixel value
// being the object id. DAVIS and every VOS tool read ids by index value.
//
// Indexed PNG cannot hold ids above 255, so when any id exceeds 255 the map
// is written as a 16-bit greyscale PNG instead, the grey value being the id.
// [ReadLabelPNG] reads both; DAVIS's own tools accept only the first.
func WritePalettePNG(w io.Writer, l *LabelMap) error {
	if err := l.Validate(); err != nil {
		return fmt.Errorf("write label PNG: %w", err)
	}
	if l.W == 0 || l.H == 0 {
		return fmt.Errorf("write label PNG: size %dx%d is empty; PNG needs at least 1x1", l.W, l.H)
	}
	var img image.Image
	if l.MaxID() > 255 {
		g := image.NewGray16(image.Rect(0, 0, l.W, l.H))
		for i, v := range l.Pix {
			binary.BigEndian.PutUint16(g.Pix[2*i:], v)
		}
		img = g
	} else {
		p := image.NewPaletted(image.Rect(0, 0, l.W, l.H), DavisPalette())
		for i, v := range l.Pix {
			p.Pix[i] = uint8(v)
		}
		img = p
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("write label PNG: %w", err)
	}
	return nil
}

// WriteBinaryPNG writes b as an 8-bit greyscale PNG, 255 inside and 0
// outside.
func WriteBinaryPNG(w io.Writer, b *Bitmap) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("write binary PNG: %w", err)
	}
	if b.W == 0 || b.H == 0 {
		return fmt.Errorf("write binary PNG: size %dx%d is empty; PNG needs at least 1x1", b.W, b.H)
	}
	g := image.NewGray(image.Rect(0, 0, b.W, b.H))
	for i, v := range b.Pix {
		if v != 0 {
			g.Pix[i] = 255
		}
	}
	if err := png.Encode(w, g); err != nil {
		return fmt.Errorf("write binary PNG: %w", err)
	}
	return nil
}

// LabelFormat says how a label PNG stored its ids.
type LabelFormat struct {
	Paletted bool // colour type 3 (DAVIS style); false means greyscale
	BitDepth int  // 1, 2, 4, 8 or 16
}

// ReadLabelPNG reads a label PNG by pixel value: indexed PNGs give their
// palette index (the colours are ignored), 8- and 16-bit greyscale PNGs their
// grey value (1-, 2- and 4-bit greyscale their raw sample value, so a 1-bit
// mask reads as 0/1). RGB, RGBA and grey+alpha PNGs are refused, since ids
// cannot be recovered from colours reliably.
func ReadLabelPNG(r io.Reader) (*LabelMap, error) {
	l, _, err := DecodeLabelPNG(r)
	return l, err
}

// ReadLabelPNGFile is [ReadLabelPNG] on a file; errors name the file.
func ReadLabelPNGFile(path string) (*LabelMap, error) {
	l, _, err := DecodeLabelPNGFile(path)
	return l, err
}

// DecodeLabelPNGFile is [DecodeLabelPNG] on a file; errors name the file.
func DecodeLabelPNGFile(path string) (*LabelMap, LabelFormat, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, LabelFormat{}, fmt.Errorf("read label PNG: %w", err)
	}
	defer f.Close()
	l, lf, err := DecodeLabelPNG(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, LabelFormat{}, fmt.Errorf("%s: %w", path, err)
	}
	return l, lf, nil
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// DecodeLabelPNG is [ReadLabelPNG] that also says how the ids were stored
// (the DAVIS evaluator treats 255 as void only in 8-bit maps).
func DecodeLabelPNG(r io.Reader) (*LabelMap, LabelFormat, error) {
	br := bufio.NewReader(r)
	hdr, err := br.Peek(26)
	if err != nil || !bytes.Equal(hdr[:8], pngSignature) || string(hdr[12:16]) != "IHDR" {
		return nil, LabelFormat{}, fmt.Errorf("read label PNG: not a PNG file (bad signature or missing IHDR)")
	}
	w := binary.BigEndian.Uint32(hdr[16:20])
	h := binary.BigEndian.Uint32(hdr[20:24])
	depth, ctype := int(hdr[24]), hdr[25]
	if w == 0 || h == 0 || uint64(w)*uint64(h) > maxPNGPixels {
		return nil, LabelFormat{}, fmt.Errorf("read label PNG: size %dx%d is empty or above the %d-pixel limit", w, h, maxPNGPixels)
	}
	switch ctype {
	case 0, 3:
	case 2, 6:
		return nil, LabelFormat{}, fmt.Errorf("read label PNG: the PNG is RGB (colour type %d); masks must be indexed (palette, as DAVIS writes them) or greyscale PNGs whose pixel values are object ids: re-save it as a palette PNG (e.g. PIL mode \"P\")", ctype)
	case 4:
		return nil, LabelFormat{}, fmt.Errorf("read label PNG: the PNG is greyscale with alpha (colour type 4); masks must be indexed or plain greyscale PNGs whose pixel values are object ids: drop the alpha channel")
	default:
		return nil, LabelFormat{}, fmt.Errorf("read label PNG: unknown PNG colour type %d", ctype)
	}
	img, err := png.Decode(br)
	if err != nil {
		return nil, LabelFormat{}, fmt.Errorf("read label PNG: %w", err)
	}
	lf := LabelFormat{Paletted: ctype == 3, BitDepth: depth}
	bnd := img.Bounds()
	l := NewLabelMap(bnd.Dx(), bnd.Dy())
	// Go scales 1-, 2- and 4-bit grey samples up to 0..255; undo it.
	scale := uint16(1)
	if ctype == 0 && depth < 8 {
		scale = 255 / uint16(1<<depth-1)
	}
	switch m := img.(type) {
	case *image.Paletted:
		for y := 0; y < l.H; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+l.W]
			out := l.Pix[y*l.W : (y+1)*l.W]
			for x, v := range row {
				out[x] = uint16(v)
			}
		}
	case *image.Gray:
		for y := 0; y < l.H; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+l.W]
			out := l.Pix[y*l.W : (y+1)*l.W]
			for x, v := range row {
				out[x] = uint16(v) / scale
			}
		}
	case *image.Gray16:
		for y := 0; y < l.H; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+2*l.W]
			out := l.Pix[y*l.W : (y+1)*l.W]
			for x := range out {
				out[x] = binary.BigEndian.Uint16(row[2*x:])
			}
		}
	case *image.NRGBA: // greyscale with a tRNS chunk: grey value in R
		for y := 0; y < l.H; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*l.W]
			out := l.Pix[y*l.W : (y+1)*l.W]
			for x := range out {
				out[x] = uint16(row[4*x]) / scale
			}
		}
	case *image.NRGBA64: // 16-bit greyscale with a tRNS chunk
		for y := 0; y < l.H; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+8*l.W]
			out := l.Pix[y*l.W : (y+1)*l.W]
			for x := range out {
				out[x] = binary.BigEndian.Uint16(row[8*x:])
			}
		}
	default:
		return nil, LabelFormat{}, fmt.Errorf("read label PNG: unexpected decoded image type %T; masks must be indexed or greyscale PNGs", img)
	}
	return l, lf, nil
}

// WriteFileAtomic writes a file so that a crash never leaves a partial one
// under path: write fills a temporary file in the same directory, which is
// flushed, fsynced, closed and renamed over path (mode 0644); the directory
// is then fsynced so the rename itself is durable. On any error the
// temporary file is removed and path is left as it was.
func WriteFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		// The temporary file is made beside path: its folder is what failed.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("write %s: the folder %s does not exist; create it or write elsewhere", path, dir)
		case errors.Is(err, fs.ErrPermission):
			return fmt.Errorf("write %s: the folder %s is not writable; choose a writable place", path, dir)
		}
		return fmt.Errorf("write %s: create a file in %s: %w", path, dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// The temporary file's name means nothing to a reader: errors name
	// path, and a full disk says what to do.
	fail := func(stage string, err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == tmp {
			err = pe.Err
		}
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("write %s%s: %w; check free disk space", path, stage, err)
		}
		return fmt.Errorf("write %s%s: %w", path, stage, err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err = write(bw); err != nil {
		return fail("", err)
	}
	if err = bw.Flush(); err != nil {
		return fail("", err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fail("", err)
	}
	if err = f.Sync(); err != nil {
		return fail(": fsync", err)
	}
	if err = f.Close(); err != nil {
		return fail(": close", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: rename into place: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: some filesystems refuse to fsync a directory
		d.Close()
	}
	return nil
}
