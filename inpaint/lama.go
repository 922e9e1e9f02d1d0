package inpaint

import (
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"

	"samtrack/mask"
	"samtrack/ort"
	"samtrack/segment"
)

// LaMa synthesises with a LaMa ONNX model (segment.LamaLayoutName: image
// [1,3,512,512] in 0-1, mask [1,1,512,512] -> output). It crops a square
// around the hole with context, resizes it to 512, runs the model and
// pastes the hole pixels back. The output's scale (0-1 or 0-255; exports
// differ) is read from the pixels outside the hole, which LaMa returns
// unchanged.
type LaMa struct {
	path string
	rt   *ort.Runtime
	s    *ort.Session
}

// OpenLaMa loads path with the ONNX Runtime library lib ("" finds it) and
// checks that it has the LaMa layout.
func OpenLaMa(path, lib string) (_ *LaMa, err error) {
	rt, err := ort.Open(lib)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	d, err := segment.DetectFile(rt, path)
	if err != nil {
		return nil, err
	}
	if d.Layout == nil || d.Layout.Name != segment.LamaLayoutName {
		return nil, fmt.Errorf("inpainting model %s is %s, not a LaMa inpainter (want inputs image [1,3,512,512], mask [1,1,512,512] and output [1,3,512,512]); export LaMa to ONNX at 512x512",
			path, d.Format())
	}
	s, err := rt.NewSession(path, ort.Options{})
	if err != nil {
		return nil, err
	}
	return &LaMa{path: path, rt: rt, s: s}, nil
}

// Name says which synthesiser this is.
func (l *LaMa) Name() string { return "lama:" + l.path }

// Close frees the session and the runtime handle.
func (l *LaMa) Close() error {
	if l == nil || l.s == nil {
		return nil
	}
	err := l.s.Close()
	if cerr := l.rt.Close(); cerr != nil && err == nil {
		err = cerr
	}
	l.s = nil
	return err
}

// Synthesize fills the hole pixels of rgb in place.
func (l *LaMa) Synthesize(rgb []byte, w, h int, hole *mask.Bitmap) error {
	if l.s == nil {
		return ErrClosed
	}
	r, ok := cropAround(hole)
	if !ok {
		return nil
	}
	const n = segment.LamaSize
	img, msk, err := lamaInputs(rgb, w, hole, r)
	if err != nil {
		return err
	}
	outs, err := l.s.Run(map[string]ort.Tensor{"image": ort.F32Tensor(img, 1, 3, n, n), "mask": ort.F32Tensor(msk, 1, 1, n, n)})
	if err != nil {
		return fmt.Errorf("LaMa %s: %w", l.path, err)
	}
	out := outs["output"].F32
	if len(out) != 3*n*n {
		return fmt.Errorf("LaMa %s: output holds %d values, want %d", l.path, len(out), 3*n*n)
	}
	return pasteLaMa(rgb, w, hole, r, out, outputScale(img, msk, out))
}

// cropAround is the hole's bounding box grown by half its size (at least
// 32 px) on each side, clipped to the frame: the context LaMa sees.
func cropAround(hole *mask.Bitmap) (image.Rectangle, bool) {
	x0, y0, x1, y1, ok := hole.BBox()
	if !ok {
		return image.Rectangle{}, false
	}
	pad := max(32, max(x1-x0, y1-y0)/2)
	r := image.Rect(x0-pad, y0-pad, x1+pad+1, y1+pad+1).Intersect(image.Rect(0, 0, hole.W, hole.H))
	return r, true
}

// lamaInputs resizes the crop r of the frame and of the hole to 512x512:
// the image as planar RGB in 0-1, the mask as 0/1.
func lamaInputs(rgb []byte, w int, hole *mask.Bitmap, r image.Rectangle) (img, msk []float32, err error) {
	const n = segment.LamaSize
	cw, ch := r.Dx(), r.Dy()
	crop := make([]byte, cw*ch*3)
	hc := make([]byte, cw*ch)
	for y := 0; y < ch; y++ {
		copy(crop[y*cw*3:(y+1)*cw*3], rgb[((r.Min.Y+y)*w+r.Min.X)*3:((r.Min.Y+y)*w+r.Max.X)*3])
		for x := 0; x < cw; x++ {
			hc[y*cw+x] = hole.Pix[(r.Min.Y+y)*w+r.Min.X+x]
		}
	}
	big, err := resizeBytes(crop, cw, ch, n, n, gocv.MatTypeCV8UC3, gocv.InterpolationLinear)
	if err != nil {
		return nil, nil, err
	}
	bigHole, err := resizeBytes(hc, cw, ch, n, n, gocv.MatTypeCV8UC1, gocv.InterpolationNearestNeighbor)
	if err != nil {
		return nil, nil, err
	}
	img, msk = make([]float32, 3*n*n), make([]float32, n*n)
	for i := 0; i < n*n; i++ {
		for c := 0; c < 3; c++ {
			img[c*n*n+i] = float32(big[i*3+c]) / 255
		}
		if bigHole[i] != 0 {
			msk[i] = 1
		}
	}
	return img, msk, nil
}

// outputScale is 255 when the model's output is in 0-255 and 1 when it is
// in 0-1, judged by least squares on the pixels outside the hole.
func outputScale(img, msk, out []float32) float64 {
	n := len(msk)
	var num, den float64
	for c := 0; c < 3; c++ {
		for i := 0; i < n; i++ {
			if msk[i] == 0 {
				num += float64(out[c*n+i]) * float64(img[c*n+i])
				den += float64(img[c*n+i]) * float64(img[c*n+i])
			}
		}
	}
	if den > 0 && num/den > 16 {
		return 255
	}
	return 1
}

// pasteLaMa resizes the model output back to the crop and writes its hole
// pixels into rgb.
func pasteLaMa(rgb []byte, w int, hole *mask.Bitmap, r image.Rectangle, out []float32, scale float64) error {
	const n = segment.LamaSize
	b := make([]byte, n*n*3)
	for i := 0; i < n*n; i++ {
		for c := 0; c < 3; c++ {
			b[i*3+c] = byte(math.Round(math.Max(0, math.Min(255, float64(out[c*n*n+i])*255/scale))))
		}
	}
	back, err := resizeBytes(b, n, n, r.Dx(), r.Dy(), gocv.MatTypeCV8UC3, gocv.InterpolationLinear)
	if err != nil {
		return err
	}
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			p := (r.Min.Y+y)*w + r.Min.X + x
			if hole.Pix[p] != 0 {
				copy(rgb[p*3:p*3+3], back[(y*r.Dx()+x)*3:(y*r.Dx()+x)*3+3])
			}
		}
	}
	return nil
}

// resizeBytes resizes a packed 8-bit image with OpenCV.
func resizeBytes(src []byte, w, h, dw, dh int, typ gocv.MatType, interp gocv.InterpolationFlags) ([]byte, error) {
	m, err := gocv.NewMatFromBytes(h, w, typ, src)
	if err != nil {
		return nil, fmt.Errorf("inpaint: wrap image: %w", err)
	}
	defer m.Close()
	d := gocv.NewMat()
	defer d.Close()
	gocv.Resize(m, &d, image.Pt(dw, dh), 0, 0, interp)
	out, err := d.DataPtrUint8()
	if err != nil {
		return nil, fmt.Errorf("inpaint: read resized image: %w", err)
	}
	return append([]byte(nil), out...), nil
}
