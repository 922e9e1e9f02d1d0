package segment

import (
	"fmt"

	"samtrack/ort"
)

// The official SAM v1 decoder (segment_anything/utils/onnx.py, kept by
// samexporter): prompt encoder, mask decoder and postprocessing in one
// graph, one prompt per run.

func sam1DecoderLayout() *Layout {
	return &Layout{
		Name:      "sam1-decoder",
		Title:     "SAM v1 / MobileSAM decoder (official export_onnx_model.py layout)",
		Family:    familySAM1,
		Role:      RoleDecoder,
		Supported: true,
		Inputs:    []string{"image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"},
		Outputs:   []string{"masks", "iou_predictions", "low_res_masks"},
		Check: func(in, out []ort.IOInfo) ([]string, error) {
			if err := checkShapes(in, map[string][]int64{
				"image_embeddings": {1, 256, 64, 64},
				"point_coords":     {1, -1, 2},
				"point_labels":     {1, -1},
				"mask_input":       {1, 1, LowResSize, LowResSize},
				"has_mask_input":   {1},
				"orig_im_size":     {2},
			}); err != nil {
				return nil, err
			}
			if err := checkShapes(out, map[string][]int64{
				"masks":           {-1, -1, -1, -1},
				"iou_predictions": {-1, -1},
				"low_res_masks":   {-1, -1, -1, -1},
			}); err != nil {
				return nil, err
			}
			r := []string{"one prompt per run: point_coords [1,N,2] in the resized 1024 frame, padding point when there is no box",
				"masks are logits at orig_im_size, computed in the graph"}
			switch sam1DecoderTokens(out) {
			case 4:
				r = append(r, "4 mask tokens: token 0 single-mask, tokens 1-3 multimask")
			case 1:
				r = append(r, "1 mask token (--return-single-mask: select_masks runs in the graph)")
			case 0:
				r = append(r, "mask token count is dynamic; read from the first run")
			default:
				return nil, fmt.Errorf("iou_predictions has %d tokens, want 4 or 1", sam1DecoderTokens(out))
			}
			return r, nil
		},
	}
}

// sam1DecoderTokens is the mask-token count the signature declares (0 when
// dynamic).
func sam1DecoderTokens(out []ort.IOInfo) int {
	if info, ok := findIO(out, "iou_predictions"); ok && len(info.Shape) == 2 && info.Shape[1] > 0 {
		return int(info.Shape[1])
	}
	return 0
}
