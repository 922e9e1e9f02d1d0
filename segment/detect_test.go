package segment

import (
	"path/filepath"
	"strings"
	"testing"

	"samtrack/ort"
)

func sig(name string, dims ...int64) ort.IOInfo {
	return ort.IOInfo{Name: name, Shape: dims, Type: ort.Float32, TypeName: "float"}
}

func TestDetectSignatures(t *testing.T) {
	sam1Dec := []ort.IOInfo{sig("image_embeddings", 1, 256, 64, 64), sig("point_coords", 1, -1, 2), sig("point_labels", 1, -1),
		sig("mask_input", 1, 1, 256, 256), sig("has_mask_input", 1), sig("orig_im_size", 2)}
	sam1DecOut := func(c int64) []ort.IOInfo {
		return []ort.IOInfo{sig("masks", -1, c, -1, -1), sig("iou_predictions", -1, c), sig("low_res_masks", -1, c, -1, -1)}
	}
	tests := []struct {
		name      string
		in, out   []ort.IOInfo
		layout    string // "" = none
		resembles string
		reason    string // a substring of the reasons
	}{
		{"sam1 decoder 4 masks", sam1Dec, sam1DecOut(4), "sam1-decoder", "", "4 mask tokens"},
		{"sam1 decoder single mask", sam1Dec, sam1DecOut(1), "sam1-decoder", "", "--return-single-mask"},
		{"sam1 decoder extra metrics", sam1Dec, append(sam1DecOut(4), sig("stability_scores", -1, 4)), "sam1-decoder", "", "4 mask tokens"},
		{"sam1 encoder", []ort.IOInfo{sig("input_image", 1, 3, 1024, 1024)}, []ort.IOInfo{sig("image_embeddings", 1, 256, 64, 64)}, "sam1-encoder", "", "[1,3,1024,1024]"},
		{"sam1 encoder preprocess", []ort.IOInfo{sig("input_image", -1, -1, 3)}, []ort.IOInfo{sig("image_embeddings", 1, 256, 64, 64)}, "sam1-encoder-preprocess", "", "HWC"},
		{"sam1 encoder wrong size", []ort.IOInfo{sig("input_image", 1, 3, 512, 512)}, []ort.IOInfo{sig("image_embeddings", 1, 256, 32, 32)}, "", "sam1-encoder", "shape"},
		{"sam2 encoder", []ort.IOInfo{sig("image", 1, 3, 1024, 1024)},
			[]ort.IOInfo{sig("high_res_feats_0", 1, 32, 256, 256), sig("high_res_feats_1", 1, 64, 128, 128), sig("image_embed", 1, 256, 64, 64)}, "sam2-encoder", "", "three feature maps"},
		{"sam2 decoder", []ort.IOInfo{sig("image_embed", 1, 256, 64, 64), sig("high_res_feats_0", 1, 32, 256, 256), sig("high_res_feats_1", 1, 64, 128, 128),
			sig("point_coords", -1, -1, 2), sig("point_labels", -1, -1), sig("mask_input", -1, 1, 256, 256), sig("has_mask_input", -1)},
			[]ort.IOInfo{sig("masks", -1, 3, 256, 256), sig("iou_predictions", -1, 3)}, "sam2-decoder", "", "batched"},
		{"sam2 decoder with orig_im_size", []ort.IOInfo{sig("image_embed", 1, 256, 64, 64), sig("high_res_feats_0", 1, 32, 256, 256), sig("high_res_feats_1", 1, 64, 128, 128),
			sig("point_coords", -1, -1, 2), sig("point_labels", -1, -1), sig("mask_input", -1, 1, 256, 256), sig("has_mask_input", -1), sig("orig_im_size", 2)},
			[]ort.IOInfo{sig("masks", -1, 3, -1, -1), sig("iou_predictions", -1, 3)}, "", "sam2-decoder", "unexpected inputs orig_im_size"},
		{"edgesam decoder", []ort.IOInfo{sig("image_embeddings", 1, 256, 64, 64), sig("point_coords", 1, -1, 2), sig("point_labels", 1, -1)},
			[]ort.IOInfo{sig("scores", 1, 4), sig("masks", 1, 4, 256, 256)}, "edgesam-decoder", "", ""},
		{"edgesam encoder", []ort.IOInfo{sig("image", 1, 3, 1024, 1024)}, []ort.IOInfo{sig("image_embeddings", 1, 256, 64, 64)}, "edgesam-encoder", "", ""},
		{"efficientsam encoder", []ort.IOInfo{sig("batched_images", -1, 3, -1, -1)}, []ort.IOInfo{sig("image_embeddings", -1, 256, 64, 64)}, "efficientsam-encoder", "", ""},
		{"samhq decoder", append(append([]ort.IOInfo{}, sam1Dec...), sig("interm_embeddings", 4, 1, 64, 64, 768)), sam1DecOut(1), "samhq-decoder", "", ""},
		{"foreign", []ort.IOInfo{sig("x", 1, 3)}, []ort.IOInfo{sig("y", 1, 3)}, "", "", ""},
		{"foreign near sam1 decoder", sam1Dec[:5], sam1DecOut(4), "", "sam1-decoder", "missing inputs orig_im_size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Detect(tc.in, tc.out)
			if got := ""; d.Layout != nil {
				got = d.Layout.Name
				if got != tc.layout {
					t.Fatalf("layout %s, want %q (reasons %v)", got, tc.layout, d.Reasons)
				}
			} else if tc.layout != "" {
				t.Fatalf("no layout, want %s (reasons %v)", tc.layout, d.Reasons)
			}
			res := ""
			if d.Resembles != nil {
				res = d.Resembles.Name
			}
			if res != tc.resembles {
				t.Errorf("resembles %q, want %q", res, tc.resembles)
			}
			if tc.reason != "" && !strings.Contains(strings.Join(d.Reasons, "; "), tc.reason) {
				t.Errorf("reasons %q lack %q", d.Reasons, tc.reason)
			}
			supported := d.Layout != nil && d.Layout.Supported
			if err := d.Err(""); (err == nil) != supported {
				t.Errorf("Err = %v, supported %v", err, supported)
			} else if err != nil {
				t.Logf("refusal: %v", err)
			}
		})
	}
}

func TestDetectFixtureFiles(t *testing.T) {
	needFixture(t, samRefDir)
	needFixture(t, sam2RefDir)
	rt := openRuntime(t)
	for file, want := range map[string]string{
		filepath.Join(samRefDir, "encoder.onnx"):  "sam1-encoder",
		filepath.Join(samRefDir, "decoder.onnx"):  "sam1-decoder",
		filepath.Join(sam2RefDir, "encoder.onnx"): "sam2-encoder",
		filepath.Join(sam2RefDir, "decoder.onnx"): "sam2-decoder",
	} {
		d, err := DetectFile(rt, file)
		if err != nil {
			t.Fatal(err)
		}
		if d.Format() != want {
			t.Errorf("%s: %s, want %s (%v)", file, d.Format(), want, d.Reasons)
		}
		if desc := d.Describe(); !strings.Contains(desc, want) || strings.Contains(desc, "not usable") {
			t.Errorf("Describe:\n%s", desc)
		} else {
			t.Logf("%s", desc)
		}
	}
}
