package media

import (
	"errors"
	"fmt"
	"math"
)

// EverythingOptions configures everything mode, segment-anything's automatic
// mask generator: it is both configuration's everything section (the
// mapstructure and json names are the config keys) and what segment's
// generator takes, so each setting, its default and its rule are written
// once. The zero value is not useful; start from DefaultEverythingOptions.
type EverythingOptions struct {
	// PointsPerSide is the grid size of the full-frame layer.
	PointsPerSide int `mapstructure:"points_per_side" json:"points_per_side"`
	// PointsPerBatch is how many grid points are decoded per batch.
	PointsPerBatch int `mapstructure:"points_per_batch" json:"points_per_batch"`
	// PredIoUThresh keeps masks whose predicted IoU is strictly above it
	// (no filter when ≤ 0). Unset (nil) means the model family's default:
	// 0.88 for SAM and MobileSAM, 0.8 for SAM 2 (segment resolves it).
	PredIoUThresh *float64 `mapstructure:"pred_iou_thresh" json:"pred_iou_thresh"`
	// StabilityScoreThresh keeps masks whose stability score is at least
	// it (no filter when 0).
	StabilityScoreThresh float64 `mapstructure:"stability_score_thresh" json:"stability_score_thresh"`
	// StabilityScoreOffset is the logit offset of the stability score.
	StabilityScoreOffset float64 `mapstructure:"stability_score_offset" json:"stability_score_offset"`
	// BoxNMSThresh is the box IoU above which a lower-scored mask of the
	// same crop is suppressed.
	BoxNMSThresh float64 `mapstructure:"box_nms_thresh" json:"box_nms_thresh"`
	// CropNLayers adds layers of 2^k × 2^k overlapping crops.
	CropNLayers int `mapstructure:"crop_n_layers" json:"crop_n_layers"`
	// CropNMSThresh is the box NMS threshold across crops.
	CropNMSThresh float64 `mapstructure:"crop_nms_thresh" json:"crop_nms_thresh"`
	// CropOverlapRatio sets the crop overlap as a share of the short side.
	CropOverlapRatio float64 `mapstructure:"crop_overlap_ratio" json:"crop_overlap_ratio"`
	// CropNPointsDownscaleFactor divides the points per side in each layer.
	CropNPointsDownscaleFactor int `mapstructure:"crop_n_points_downscale_factor" json:"crop_n_points_downscale_factor"`
	// MinMaskRegionArea, when > 0, fills holes and removes islands smaller
	// than this many pixels, then runs box NMS again.
	MinMaskRegionArea int `mapstructure:"min_mask_region_area" json:"min_mask_region_area"`
	// UseM2M is SAM2AutomaticMaskGenerator's use_m2m: every multimask
	// candidate is decoded once more with its own low-res logits as the
	// mask prompt, and the IoU and stability filters apply to the refined
	// mask.
	UseM2M bool `mapstructure:"use_m2m" json:"use_m2m"`
}

// DefaultEverythingOptions returns SamAutomaticMaskGenerator's defaults,
// with PredIoUThresh unset (the model family's own).
func DefaultEverythingOptions() EverythingOptions {
	return EverythingOptions{
		PointsPerSide:              32,
		PointsPerBatch:             64,
		StabilityScoreThresh:       0.95,
		StabilityScoreOffset:       1.0,
		BoxNMSThresh:               0.7,
		CropNLayers:                0,
		CropNMSThresh:              0.7,
		CropOverlapRatio:           512.0 / 1500.0,
		CropNPointsDownscaleFactor: 1,
		MinMaskRegionArea:          0,
	}
}

// MaxCropLayers bounds CropNLayers: layer k has 4^k crops, each a full
// encoder run.
const MaxCropLayers = 4

// Validate reports every unusable option, each naming its config key.
func (o EverythingOptions) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if p := o.PredIoUThresh; p != nil && (math.IsNaN(*p) || *p < 0 || *p > 1) {
		bad("everything.pred_iou_thresh is %v; use 0 to 1, or leave it unset for the model's default", *p)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"stability_score_thresh", o.StabilityScoreThresh}, {"box_nms_thresh", o.BoxNMSThresh}, {"crop_nms_thresh", o.CropNMSThresh},
	} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > 1 {
			bad("everything.%s is %v; use 0 to 1", f.name, f.v)
		}
	}
	if v := o.CropOverlapRatio; math.IsNaN(v) || v < 0 || v >= 1 {
		bad("everything.crop_overlap_ratio is %v; use 0 to below 1 (SAM uses 512/1500)", v)
	}
	if v := o.StabilityScoreOffset; math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		bad("everything.stability_score_offset is %v; use a finite value ≥ 0 (SAM uses 1.0)", v)
	}
	if o.PointsPerSide < 1 || o.PointsPerSide > 1000 {
		bad("everything.points_per_side is %d; use 1 to 1000 (SAM uses 32)", o.PointsPerSide)
	}
	if o.PointsPerBatch < 1 {
		bad("everything.points_per_batch is %d; use at least 1 (SAM uses 64)", o.PointsPerBatch)
	}
	if o.CropNLayers < 0 || o.CropNLayers > MaxCropLayers {
		bad("everything.crop_n_layers is %d; use 0 to %d", o.CropNLayers, MaxCropLayers)
	}
	if o.CropNPointsDownscaleFactor < 1 {
		bad("everything.crop_n_points_downscale_factor is %d; use at least 1", o.CropNPointsDownscaleFactor)
	}
	if o.MinMaskRegionArea < 0 {
		bad("everything.min_mask_region_area is %d; use 0 (off) or a pixel count", o.MinMaskRegionArea)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for k := 0; k <= o.CropNLayers; k++ {
		if o.LayerPoints(k) < 1 {
			return fmt.Errorf("everything: crop layer %d has no points (points_per_side %d / crop_n_points_downscale_factor %d^%d); lower crop_n_layers or the factor",
				k, o.PointsPerSide, o.CropNPointsDownscaleFactor, k)
		}
	}
	return nil
}

// LayerPoints is the grid size of crop layer k.
func (o EverythingOptions) LayerPoints(layer int) int {
	return int(float64(o.PointsPerSide) / math.Pow(float64(o.CropNPointsDownscaleFactor), float64(layer)))
}

// NothingFound says that everything mode under o found no mask, and what
// to change: the filters' settings, as configuration keys.
func (o EverythingOptions) NothingFound() string {
	thresh := "the model's default, 0.88 for SAM, 0.8 for SAM 2"
	if o.PredIoUThresh != nil {
		thresh = fmt.Sprint(*o.PredIoUThresh)
	}
	return fmt.Sprintf("everything mode found no mask that passed its filters (everything.pred_iou_thresh %s, everything.stability_score_thresh %g); lower them, or give prompts",
		thresh, o.StabilityScoreThresh)
}
