// Package testgen generates the small ONNX models that samtrack's tests run
// instead of real Segment Anything weights. Each model has exactly the
// input/output contract of a real export (names, dtypes, ranks, dynamic
// axes) and computes colour similarity, so end-to-end tests can assert real
// accuracy on synthetic scenes.
//
// Encoders (SAM v1 in samexporter's layout, with and without its
// --use-preprocess front end, and SAM 2 in samexporter's layout) average
// the normalised RGB over 4×4-pixel cells of the 1024 frame, giving a
// 256×256 colour map that matches the low-res mask grid, plus a validity
// channel (1 where the pixel is real, 0 in the zero padding: a normalised
// real pixel can never be exactly 0 in all three channels). The SAM v1
// embedding and SAM 2's image_embed carry that [4,256,256] map as
// SpaceToDepth(4) in channels 0-63 (zeros after); SAM 2's high_res_feats_0
// carries it directly in channels 0-3 and high_res_feats_1 a 2×2-pooled copy.
//
// Decoders rebuild the colour map and compute, on the 256 grid (a prompt at
// coordinate c of the 1024 frame sits at grid position (c+0.5)/4, as the
// official graph adds 0.5):
//   - a colour prototype per positive point: a Gaussian-weighted mean (σ 3
//     cells, in a 19×19-cell window read with GridSample) of the colours
//     around it, bilateral so that colours unlike the clicked cell are left
//     out; a box (labels 2/3) takes its prototype from its centre when no
//     positive point is given, and mask_input alone (has_mask_input = 1, no
//     point, no box) takes the mask-weighted mean;
//   - d = colour distance of each cell to the nearest positive prototype;
//   - negative points compete: a cell stays only while it is nearer (in
//     colour + 0.02 × cell distance) to a positive prompt than to a
//     negative one; padding points (label -1) are ignored;
//   - a box limits the mask to the box (half a cell of slack);
//   - token logits = 8·min(τ_k − d, competition, box), with τ = 0.35, 0.75,
//     1.5 for the nested tight/medium/loose multimask tokens 1-3 and, for
//     token 0 (single-mask default), τ₀ = clamp(0.5 + 2.5·σ, 0.5, 1.5) where
//     σ is the colour spread around the prompt; with has_mask_input = 1,
//     0.5·mask_input is added.
//
// iou_predictions is an honest confidence: with u = logit/(8·τ) (the
// normalised margin), the sum of tanh(3u) over the mask's cells divided by
// one plus the number of cells with u > -0.25 (the mask and the cells that
// only just missed it). Solid shapes of 50 px radius or more in the 1024
// frame score about 0.94-0.99, small ones less (0.7-0.95 at 13 px radius), a
// loose token that takes in a similar neighbour, or nearly does, 0.2-0.87,
// and an empty mask 0. Cells in the encoder's zero padding never enter a
// mask. Known limit: colour alone cannot tell apart two separate objects of
// the same colour, and a strongly textured object needs the loose token or
// one click per colour.
//
// The SAM v1 decoder then applies the official postprocessing in-graph
// (bilinear 256→1024, crop to the resized size computed from orig_im_size,
// bilinear to orig_im_size); its single-mask variant applies the official
// select_masks rule first. The SAM 2 decoder appends the padding point
// itself, runs n prompts as one batch and returns the multimask tokens'
// low-res logits clamped to ±32.
package testgen

import (
	"fmt"
	"os"
	"path/filepath"

	"samtrack/models/onnxpb"
)

// Parameters of the colour-similarity decoders, in normalised colour units
// (one unit is about 57 grey levels of one channel) and 256-grid cells (4
// pixels of the 1024 frame).
const (
	// LogitScale converts a margin in colour units into a logit.
	LogitScale = 8
	// TauTight, TauMedium and TauLoose are the colour radii of multimask
	// tokens 1, 2 and 3.
	TauTight  = 0.35
	TauMedium = 0.75
	TauLoose  = 1.5
	// MaskInputWeight scales mask_input when it is added to the logits.
	MaskInputWeight = 0.5

	seedSigma    = 0.7  // cells: where the clicked colour is read
	protoSigma   = 3.0  // cells: neighbourhood of a prototype
	colourSigma  = 0.35 // colour units: bilateral tolerance
	spatialCost  = 0.02 // colour units per cell in the pos/neg competition
	boxSlack     = 0.5  // cells
	big          = 100  // "infinite" distance
	maxDist      = 10   // distances are clipped here, keeping logits finite
	tau0Base     = 0.5
	tau0PerSigma = 2.5
	confSlope    = 3.0
	confBand     = -0.25
	grid         = 256
	cells        = grid * grid
)

// colourMap turns a normalised [1,3,1024,1024] image into the [1,4,256,256]
// map of 4×4 cell colours plus validity.
func colourMap(b *gb, img string) string {
	nonzero := b.gtf(b.sum(b.abs(img), 1), 0) // [1,1,1024,1024]
	return b.avgPool(b.concat(1, img, nonzero), 4)
}

// embedding packs the colour map into a [1,256,64,64] SAM embedding.
func embedding(b *gb, cmap string) string {
	s2d := b.g.OpA("SpaceToDepth", []string{cmap}, onnxpb.AttrInt("blocksize", 4)) // [1,64,64,64]
	return b.padChannels(s2d, 256-64)
}

// unembed recovers the [1,4,256,256] colour-and-validity map from a SAM v1
// embedding.
func unembed(b *gb, emb string) string {
	return b.g.OpA("DepthToSpace", []string{b.slice(emb, 1, 0, 64)},
		onnxpb.AttrInt("blocksize", 4), onnxpb.AttrString("mode", "DCR"))
}

// SAMEncoder is the SAM v1 encoder in samexporter's layout: input_image
// float32 [1,3,1024,1024] (resized so the longest side is 1024, normalised,
// zero-padded) -> image_embeddings [1,256,64,64].
func SAMEncoder() ([]byte, error) {
	b := newGB("samtrack_testgen_sam_encoder")
	x := b.g.Input("input_image", onnxpb.Float, 1, 3, 1024, 1024)
	b.g.Output("image_embeddings", embedding(b, colourMap(b, x)), onnxpb.Float, 1, 256, 64, 64)
	return wrap("SAM encoder", b)
}

// SAMEncoderPreprocess is samexporter's --use-preprocess encoder: input_image
// float32 [H,W,3] (RGB 0-255, longest side already 1024; H and W dynamic).
// The graph normalises, transposes to CHW, zero-pads bottom and right to
// 1024 and adds the batch axis, then computes what SAMEncoder does.
func SAMEncoderPreprocess() ([]byte, error) {
	b := newGB("samtrack_testgen_sam_encoder_preprocess")
	x := b.g.Input("input_image", onnxpb.Float, "H", "W", 3)
	mean := b.g.Floats(123.675, 116.28, 103.53) // SAM's pixel_mean, 0-255 scale
	std := b.g.Floats(58.395, 57.12, 57.375)
	chw := b.transpose(b.div(b.sub(x, mean), std), 2, 0, 1) // [3,H,W]
	shp := b.shape(x)
	hw := b.g.Op("Slice", shp, b.ints(0), b.ints(2)) // [H, W]
	padHW := b.sub(b.ints(1024, 1024), hw)
	pads := b.concat(0, b.ints(0, 0, 0, 0), padHW) // [0,0,0, 0,1024-H,1024-W]
	padded := b.g.Op("Pad", chw, pads)
	img := b.unsqueeze(padded, 0)
	b.g.Output("image_embeddings", embedding(b, colourMap(b, img)), onnxpb.Float, 1, 256, 64, 64)
	return wrap("SAM preprocess encoder", b)
}

// SAM2Encoder is the SAM 2 encoder in samexporter's layout: image float32
// [1,3,1024,1024] (frame stretched to 1024×1024, 0-1 scale, ImageNet
// mean/std) -> high_res_feats_0 [1,32,256,256], high_res_feats_1
// [1,64,128,128], image_embed [1,256,64,64].
func SAM2Encoder() ([]byte, error) {
	b := newGB("samtrack_testgen_sam2_encoder")
	x := b.g.Input("image", onnxpb.Float, 1, 3, 1024, 1024)
	cm := colourMap(b, x)
	b.g.Output("high_res_feats_0", b.padChannels(cm, 32-4), onnxpb.Float, 1, 32, 256, 256)
	b.g.Output("high_res_feats_1", b.padChannels(b.avgPool(cm, 2), 64-4), onnxpb.Float, 1, 64, 128, 128)
	b.g.Output("image_embed", embedding(b, cm), onnxpb.Float, 1, 256, 64, 64)
	return wrap("SAM 2 encoder", b)
}

func wrap(what string, b *gb) ([]byte, error) {
	m, err := b.model()
	if err != nil {
		return nil, fmt.Errorf("generate %s: %w", what, err)
	}
	return m, nil
}

// Paths are the files WriteDir writes.
type Paths struct {
	SAMEncoder, SAMEncoderPreprocess, SAMDecoder, SAMDecoderSingle string
	SAM2Encoder, SAM2Decoder                                       string
}

// File names used by WriteDir.
const (
	FileSAMEncoder           = "sam_encoder.onnx"
	FileSAMEncoderPreprocess = "sam_encoder_preprocess.onnx"
	FileSAMDecoder           = "sam_decoder.onnx"
	FileSAMDecoderSingle     = "sam_decoder_single.onnx"
	FileSAM2Encoder          = "sam2_encoder.onnx"
	FileSAM2Decoder          = "sam2_decoder.onnx"
)

// WriteDir generates every model into dir (created if needed) and returns
// their paths.
func WriteDir(dir string) (Paths, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Paths{}, fmt.Errorf("create model directory: %w", err)
	}
	p := Paths{
		SAMEncoder:           filepath.Join(dir, FileSAMEncoder),
		SAMEncoderPreprocess: filepath.Join(dir, FileSAMEncoderPreprocess),
		SAMDecoder:           filepath.Join(dir, FileSAMDecoder),
		SAMDecoderSingle:     filepath.Join(dir, FileSAMDecoderSingle),
		SAM2Encoder:          filepath.Join(dir, FileSAM2Encoder),
		SAM2Decoder:          filepath.Join(dir, FileSAM2Decoder),
	}
	jobs := []struct {
		path string
		gen  func() ([]byte, error)
	}{
		{p.SAMEncoder, SAMEncoder},
		{p.SAMEncoderPreprocess, SAMEncoderPreprocess},
		{p.SAMDecoder, func() ([]byte, error) { return SAMDecoder(false) }},
		{p.SAMDecoderSingle, func() ([]byte, error) { return SAMDecoder(true) }},
		{p.SAM2Encoder, SAM2Encoder},
		{p.SAM2Decoder, SAM2Decoder},
	}
	for _, j := range jobs {
		m, err := j.gen()
		if err != nil {
			return Paths{}, err
		}
		if err := os.WriteFile(j.path, m, 0o644); err != nil {
			return Paths{}, fmt.Errorf("write generated model: %w", err)
		}
	}
	return p, nil
}
