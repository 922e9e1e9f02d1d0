package segment

// Layouts that samtrack recognises but does not drive yet, so that a
// refusal can say what the file is. Supporting one means giving it
// Supported: true, an encoder/decoder pair and a family in families().

const familyUnsupported = "unsupported"

func edgeSAMEncoderLayout() *Layout {
	return &Layout{
		Name: "edgesam-encoder", Title: "EdgeSAM encoder (chongzhou96/EdgeSAM export_onnx_model.py)",
		Family: familyUnsupported, Role: RoleEncoder,
		Inputs: []string{"image"}, Outputs: []string{"image_embeddings"},
	}
}

func edgeSAMDecoderLayout() *Layout {
	return &Layout{
		Name: "edgesam-decoder", Title: "EdgeSAM decoder (no mask_input, low-res masks only)",
		Family: familyUnsupported, Role: RoleDecoder,
		Inputs: []string{"image_embeddings", "point_coords", "point_labels"}, Outputs: []string{"scores", "masks"},
	}
}

func efficientSAMEncoderLayout() *Layout {
	return &Layout{
		Name: "efficientsam-encoder", Title: "EfficientSAM encoder (yformer/EfficientSAM export_to_onnx.py)",
		Family: familyUnsupported, Role: RoleEncoder,
		Inputs: []string{"batched_images"}, Outputs: []string{"image_embeddings"},
	}
}

func efficientSAMDecoderLayout() *Layout {
	return &Layout{
		Name: "efficientsam-decoder", Title: "EfficientSAM decoder (batched_point_coords, output_masks)",
		Family: familyUnsupported, Role: RoleDecoder,
		Inputs:  []string{"image_embeddings", "batched_point_coords", "batched_point_labels", "orig_im_size"},
		Outputs: []string{"output_masks", "iou_predictions"},
	}
}

func samHQDecoderLayout() *Layout {
	return &Layout{
		Name: "samhq-decoder", Title: "SAM-HQ decoder (SysCV/sam-hq, needs interm_embeddings)",
		Family: familyUnsupported, Role: RoleDecoder,
		Inputs:  []string{"image_embeddings", "interm_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"},
		Outputs: []string{"masks", "iou_predictions", "low_res_masks"},
	}
}
