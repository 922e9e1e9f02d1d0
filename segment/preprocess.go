package segment

import (
	"fmt"

	"samtrack/media"
)

// EncoderSize is the side of the square image SAM's encoders take.
const EncoderSize = 1024

// SAM v1 normalisation on the 0–255 scale (segment_anything/modeling/sam.py).
var (
	sam1Mean = [3]float32{123.675, 116.28, 103.53}
	sam1Std  = [3]float32{58.395, 57.12, 57.375}
)

// SAM 2 normalisation on the 0–1 scale (ImageNet).
var (
	sam2Mean = [3]float32{0.485, 0.456, 0.406}
	sam2Std  = [3]float32{0.229, 0.224, 0.225}
)

func checkImage(img media.Image) error {
	if img.W <= 0 || img.H <= 0 {
		return fmt.Errorf("image is %dx%d; need a positive size", img.W, img.H)
	}
	if len(img.RGB) != img.W*img.H*3 {
		return fmt.Errorf("image is %dx%d but holds %d bytes; RGB24 needs %d", img.W, img.H, len(img.RGB), img.W*img.H*3)
	}
	return nil
}

// ResizedSize is SAM v1's ResizeLongestSide.get_preprocess_shape: the size
// of a w×h frame scaled so its longest side is 1024, each side rounded half
// up (int(x·s + 0.5)).
func ResizedSize(w, h int) (rw, rh int) {
	s := float64(EncoderSize) / float64(max(w, h))
	return int(float64(w)*s + 0.5), int(float64(h)*s + 0.5)
}

// PreprocessSAM1 turns a frame into the SAM v1 encoder input
// [1,3,1024,1024]: PIL-bilinear resize so the longest side is 1024 (8-bit,
// as the reference resizes the uint8 picture), normalisation with SAM's
// mean and std on the 0–255 scale, zero padding at the bottom and right.
func PreprocessSAM1(img media.Image) ([]float32, error) {
	if err := checkImage(img); err != nil {
		return nil, err
	}
	rw, rh := ResizedSize(img.W, img.H)
	rgb := resizeRGB8(img.RGB, img.W, img.H, rw, rh)
	const n = EncoderSize * EncoderSize
	out := make([]float32, 3*n)
	lut := normLUT(1, sam1Mean, sam1Std)
	parallelRows(rh, rw*3, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			src := rgb[y*rw*3 : (y+1)*rw*3]
			r := out[0*n+y*EncoderSize:][:rw]
			g := out[1*n+y*EncoderSize:][:rw]
			b := out[2*n+y*EncoderSize:][:rw]
			for x := 0; x < rw; x++ {
				r[x] = lut[0][src[3*x]]
				g[x] = lut[1][src[3*x+1]]
				b[x] = lut[2][src[3*x+2]]
			}
		}
	})
	return out, nil
}

// normLUT maps every 8-bit channel value v to (v/div - mean)/std, per
// channel. Dividing by 1 leaves v exact, so both encoders' tables are the
// values their reference computes.
func normLUT(div float32, mean, std [3]float32) *[3][256]float32 {
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			lut[c][v] = (float32(v)/div - mean[c]) / std[c]
		}
	}
	return &lut
}

// PreprocessSAM1HWC is the input of samexporter's --use-preprocess encoder:
// the frame resized as in PreprocessSAM1, as float RGB 0–255 [rh,rw,3]; the
// graph normalises and pads.
func PreprocessSAM1HWC(img media.Image) (data []float32, rw, rh int, err error) {
	if err := checkImage(img); err != nil {
		return nil, 0, 0, err
	}
	rw, rh = ResizedSize(img.W, img.H)
	rgb := resizeRGB8(img.RGB, img.W, img.H, rw, rh)
	data = make([]float32, len(rgb))
	for i, v := range rgb {
		data[i] = float32(v)
	}
	return data, rw, rh, nil
}

// PreprocessSAM2 turns a frame into the SAM 2 encoder input
// [1,3,1024,1024]: the frame stretched to 1024×1024 (bilinear, half-pixel
// centres, antialiased when shrinking, in 8 bits), scaled to 0–1 and
// normalised with ImageNet's mean and std.
func PreprocessSAM2(img media.Image) ([]float32, error) {
	if err := checkImage(img); err != nil {
		return nil, err
	}
	rgb := resizeRGB8(img.RGB, img.W, img.H, EncoderSize, EncoderSize)
	const n = EncoderSize * EncoderSize
	out := make([]float32, 3*n)
	lut := normLUT(255, sam2Mean, sam2Std)
	for i := 0; i < n; i++ {
		out[i] = lut[0][rgb[3*i]]
		out[n+i] = lut[1][rgb[3*i+1]]
		out[2*n+i] = lut[2][rgb[3*i+2]]
	}
	return out, nil
}

// preprocessSAM2Float is PreprocessSAM2 without the 8-bit rounding of the
// resized picture (the resize runs on 0–1 floats, as SAM 2's torchvision
// transforms do).
func preprocessSAM2Float(img media.Image) []float32 {
	const n = EncoderSize * EncoderSize
	planes := make([]float32, 3*img.W*img.H)
	p := img.W * img.H
	for i := 0; i < p; i++ {
		planes[i] = float32(img.RGB[3*i]) / 255
		planes[p+i] = float32(img.RGB[3*i+1]) / 255
		planes[2*p+i] = float32(img.RGB[3*i+2]) / 255
	}
	r := resizer{kx: pilKernel(img.W, EncoderSize), ky: pilKernel(img.H, EncoderSize)}
	out := make([]float32, 3*n)
	for c := 0; c < 3; c++ {
		r.resize(planes[c*p:(c+1)*p], out[c*n:(c+1)*n], nil)
		for i := c * n; i < (c+1)*n; i++ {
			out[i] = (out[i] - sam2Mean[c]) / sam2Std[c]
		}
	}
	return out
}
