package media

import (
	"math"
	"strings"
	"testing"
)

func TestEverythingOptionsValidate(t *testing.T) {
	if err := DefaultEverythingOptions().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, tc := range []struct {
		key  string
		edit func(*EverythingOptions)
	}{
		{"points_per_side", func(o *EverythingOptions) { o.PointsPerSide = 0 }},
		{"points_per_side", func(o *EverythingOptions) { o.PointsPerSide = 1001 }},
		{"points_per_batch", func(o *EverythingOptions) { o.PointsPerBatch = 0 }},
		{"pred_iou_thresh", func(o *EverythingOptions) { o.PredIoUThresh = new(math.NaN()) }},
		{"pred_iou_thresh", func(o *EverythingOptions) { o.PredIoUThresh = new(1.5) }},
		{"stability_score_thresh", func(o *EverythingOptions) { o.StabilityScoreThresh = -0.1 }},
		{"stability_score_offset", func(o *EverythingOptions) { o.StabilityScoreOffset = math.Inf(1) }},
		{"box_nms_thresh", func(o *EverythingOptions) { o.BoxNMSThresh = 1.5 }},
		{"crop_nms_thresh", func(o *EverythingOptions) { o.CropNMSThresh = math.NaN() }},
		{"crop_n_layers", func(o *EverythingOptions) { o.CropNLayers = -1 }},
		{"crop_n_layers", func(o *EverythingOptions) { o.CropNLayers = MaxCropLayers + 1 }},
		{"crop_overlap_ratio", func(o *EverythingOptions) { o.CropOverlapRatio = 1 }},
		{"crop_n_points_downscale_factor", func(o *EverythingOptions) { o.CropNPointsDownscaleFactor = 0 }},
		{"min_mask_region_area", func(o *EverythingOptions) { o.MinMaskRegionArea = -5 }},
		{"crop layer 1 has no points", func(o *EverythingOptions) { o.PointsPerSide, o.CropNLayers, o.CropNPointsDownscaleFactor = 2, 2, 4 }},
	} {
		o := DefaultEverythingOptions()
		tc.edit(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v, want one naming it", tc.key, err)
		}
	}
	ok := DefaultEverythingOptions()
	ok.PredIoUThresh, ok.StabilityScoreThresh = new(0.0), 0 // 0 turns a filter off
	if err := ok.Validate(); err != nil {
		t.Errorf("filters off: %v", err)
	}
}
