package testgen

import (
	"fmt"
	"os"

	"samtrack/models/onnxpb"
)

// LaMa is an inpainting model with the contract of the published LaMa ONNX
// export (Carve/LaMa-ONNX): image [1,3,512,512] RGB in 0-1 and mask
// [1,1,512,512] (1 = fill) -> output [1,3,512,512]. It fills every masked
// pixel with the mean colour of the unmasked pixels and returns the
// unmasked pixels unchanged:
//
//	output = scale · (image·(1−m) + m·Σ(image·(1−m))/max(Σ(1−m), 1e−6))
//
// where m is the mask thresholded at 0.5 and the sums run over the whole
// image, per channel. scale is 1 (output in 0-1) or 255 (0-255), the two
// output scales that LaMa exports use, so that the adapter's scale
// detection is tested on both.
func LaMa(scale float32) ([]byte, error) {
	if scale != 1 && scale != 255 {
		return nil, fmt.Errorf("testgen LaMa: scale %v: want 1 or 255", scale)
	}
	b := newGB("samtrack_testgen_lama")
	img := b.g.Input("image", onnxpb.Float, 1, 3, 512, 512)
	msk := b.g.Input("mask", onnxpb.Float, 1, 1, 512, 512)
	m := b.gtf(msk, 0.5)
	keep := b.oneMinus(m)
	known := b.mul(img, keep)                                              // [1,3,512,512]
	mean := b.div(b.sum(known, 2, 3), b.max(b.sum(keep, 2, 3), b.f(1e-6))) // [1,3,1,1]
	out := b.add(known, b.mul(m, mean))
	if scale != 1 {
		out = b.mulf(out, scale)
	}
	b.g.Output("output", out, onnxpb.Float, 1, 3, 512, 512)
	return wrap("LaMa inpainter", b)
}

// WriteLaMa writes LaMa(scale) to path.
func WriteLaMa(path string, scale float32) error {
	b, err := LaMa(scale)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write LaMa test model: %w", err)
	}
	return nil
}
