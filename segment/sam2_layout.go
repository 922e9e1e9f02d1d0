package segment

import "samtrack/ort"

// SAM 2 / 2.1 image models in samexporter's export_sam2.py layout, which
// most public SAM 2 ONNX files use.

func sam2EncoderLayout() *Layout {
	return &Layout{
		Name:      "sam2-encoder",
		Title:     "SAM 2/2.1 encoder (samexporter export_sam2.py)",
		Family:    familySAM2,
		Role:      RoleEncoder,
		Supported: true,
		Inputs:    []string{"image"},
		Outputs:   []string{"high_res_feats_0", "high_res_feats_1", "image_embed"},
		Check: func(in, out []ort.IOInfo) ([]string, error) {
			if err := checkShapes(in, map[string][]int64{"image": {1, 3, EncoderSize, EncoderSize}}); err != nil {
				return nil, err
			}
			if err := checkShapes(out, map[string][]int64{
				"high_res_feats_0": {1, 32, 256, 256},
				"high_res_feats_1": {1, 64, 128, 128},
				"image_embed":      {1, 256, 64, 64},
			}); err != nil {
				return nil, err
			}
			return []string{"image is [1,3,1024,1024]: samtrack stretches the frame to 1024x1024 and normalises (ImageNet)",
				"three feature maps (high_res_feats_0/1, image_embed), projections applied in the graph"}, nil
		},
	}
}

func sam2DecoderLayout() *Layout {
	return &Layout{
		Name:      "sam2-decoder",
		Title:     "SAM 2/2.1 decoder (samexporter export_sam2.py, batched prompts, low-res masks)",
		Family:    familySAM2,
		Role:      RoleDecoder,
		Supported: true,
		Inputs:    []string{"image_embed", "high_res_feats_0", "high_res_feats_1", "point_coords", "point_labels", "mask_input", "has_mask_input"},
		Outputs:   []string{"masks", "iou_predictions"},
		Check: func(in, out []ort.IOInfo) ([]string, error) {
			if err := checkShapes(in, map[string][]int64{
				"image_embed":      {1, 256, 64, 64},
				"high_res_feats_0": {1, 32, 256, 256},
				"high_res_feats_1": {1, 64, 128, 128},
				"point_coords":     {-1, -1, 2},
				"point_labels":     {-1, -1},
				"mask_input":       {-1, 1, LowResSize, LowResSize},
				"has_mask_input":   {-1},
			}); err != nil {
				return nil, err
			}
			if err := checkShapes(out, map[string][]int64{
				"masks":           {-1, 3, LowResSize, LowResSize},
				"iou_predictions": {-1, 3},
			}); err != nil {
				return nil, err
			}
			return []string{"prompts batched on the first axis; box corners before clicks; the padding point is added in the graph",
				"masks are [n,3,256,256] low-res logits; samtrack resizes them to the frame"}, nil
		},
	}
}
