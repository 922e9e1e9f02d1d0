package segment

import (
	"samtrack/ort"
)

// LaMa inpainting as published in ONNX (Carve/LaMa-ONNX on Hugging Face,
// lama_fp32.onnx, exported with torch.onnx.export at a fixed 512x512):
// image [1,3,512,512] RGB in 0-1 and mask [1,1,512,512] (1 = fill) ->
// output [1,3,512,512], the filled image. It is not a SAM half; samtrack
// remove uses it (package inpaint) to synthesise what no frame shows.

// LamaLayoutName is the layout's stable name.
const LamaLayoutName = "lama-inpainter"

// LamaSize is the side of the square LaMa input and output.
const LamaSize = 512

func lamaLayout() *Layout {
	return &Layout{
		Name:      LamaLayoutName,
		Title:     "LaMa inpainting (ONNX export, image [1,3,512,512] in 0-1 and mask [1,1,512,512] -> output)",
		Family:    "lama",
		Role:      RoleInpainter,
		Supported: true,
		Inputs:    []string{"image", "mask"},
		Outputs:   []string{"output"},
		Check: func(in, out []ort.IOInfo) ([]string, error) {
			if err := checkShapes(in, map[string][]int64{
				"image": {1, 3, LamaSize, LamaSize}, "mask": {1, 1, LamaSize, LamaSize},
			}); err != nil {
				return nil, err
			}
			if err := checkShapes(out, map[string][]int64{"output": {1, 3, LamaSize, LamaSize}}); err != nil {
				return nil, err
			}
			return []string{"image is NCHW [1,3,512,512] RGB in 0-1 and mask [1,1,512,512] is 1 where to fill: samtrack crops around the hole and resizes to 512",
				"output is the filled [1,3,512,512] image; its scale (0-1 or 0-255) is read from the pixels outside the hole, which the model returns unchanged"}, nil
		},
	}
}
