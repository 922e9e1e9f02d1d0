package segment

import (
	"fmt"

	"samtrack/media"
	"samtrack/ort"
)

// SAM v1 encoders as samexporter exports them (vit_b, vit_l, vit_h and
// MobileSAM share the interface): input_image -> image_embeddings.

func sam1EncoderLayout() *Layout {
	return sam1Encoder("sam1-encoder",
		"SAM v1 / MobileSAM encoder (samexporter, input_image [1,3,1024,1024] normalised and padded)",
		[]int64{1, 3, EncoderSize, EncoderSize},
		"input_image is NCHW [1,3,1024,1024]: samtrack resizes (longest side 1024), normalises and pads")
}

func sam1EncoderPreprocessLayout() *Layout {
	return sam1Encoder("sam1-encoder-preprocess",
		"SAM v1 / MobileSAM encoder with in-graph preprocessing (samexporter --use-preprocess, input_image [H,W,3])",
		[]int64{-1, -1, 3},
		"input_image is HWC [H,W,3]: samtrack resizes (longest side 1024) and feeds RGB 0-255; the graph normalises and pads")
}

// sam1Encoder is a SAM v1 encoder layout: the two exports differ only in
// the shape of input_image and in what samtrack does to fill it.
func sam1Encoder(name, title string, input []int64, inputNote string) *Layout {
	return &Layout{
		Name:      name,
		Title:     title,
		Family:    familySAM1,
		Role:      RoleEncoder,
		Supported: true,
		Inputs:    []string{"input_image"},
		Outputs:   []string{"image_embeddings"},
		Check: func(in, out []ort.IOInfo) ([]string, error) {
			if err := checkShapes(in, map[string][]int64{"input_image": input}); err != nil {
				return nil, err
			}
			if err := checkShapes(out, map[string][]int64{"image_embeddings": {1, 256, 64, 64}}); err != nil {
				return nil, err
			}
			return []string{inputNote, "image_embeddings is [1,256,64,64]"}, nil
		},
	}
}

// sam1EncoderInput builds the encoder's input tensor for a frame.
func sam1EncoderInput(layout string, img media.Image) (ort.Tensor, error) {
	switch layout {
	case "sam1-encoder":
		data, err := PreprocessSAM1(img)
		if err != nil {
			return ort.Tensor{}, err
		}
		return ort.F32Tensor(data, 1, 3, EncoderSize, EncoderSize), nil
	case "sam1-encoder-preprocess":
		data, rw, rh, err := PreprocessSAM1HWC(img)
		if err != nil {
			return ort.Tensor{}, err
		}
		return ort.F32Tensor(data, int64(rh), int64(rw), 3), nil
	}
	return ort.Tensor{}, fmt.Errorf("layout %s is not a SAM v1 encoder", layout)
}
