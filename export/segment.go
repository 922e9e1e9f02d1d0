package export

import "samtrack/mask"

// SegmentDoc is the JSON document of one image's segmentation: what
// `samtrack segment --out X.json` writes and the service's /segment
// answers (which adds its own fields). Masks are COCO compressed RLE.
type SegmentDoc struct {
	Image       SegmentImage        `json:"image"`
	Segmenter   string              `json:"segmenter"`
	Annotations []SegmentAnnotation `json:"annotations"`
}

// SegmentImage says which picture was segmented: a file (or an input, a
// job), the frame of a video, and its size.
type SegmentImage struct {
	File   string `json:"file"`
	Frame  *int   `json:"frame,omitempty"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// SegmentAnnotation is one mask. Stability and Point are set in
// everything mode only.
type SegmentAnnotation struct {
	ID           int                `json:"id"`
	Segmentation mask.CompressedRLE `json:"segmentation"`
	Area         int                `json:"area"`
	BBox         [4]int             `json:"bbox"`
	Score        float64            `json:"score"`
	Stability    *float64           `json:"stability_score,omitempty"`
	Point        [][2]float64       `json:"point_coords,omitempty"`
	// Warning says why a prompt's mask is doubtful (too small, or scored
	// very low); empty when it is not, and in everything mode.
	Warning string `json:"warning,omitempty"`
}

// NewSegmentAnnotation encodes mask m of object id with its score.
func NewSegmentAnnotation(id int, m *mask.Bitmap, score float64) (SegmentAnnotation, error) {
	rle, err := mask.EncodeRLE(m)
	if err != nil {
		return SegmentAnnotation{}, err
	}
	return SegmentAnnotation{ID: id, Segmentation: rle.Compress(), Area: rle.Area(), BBox: rle.BBox(), Score: score}, nil
}
