package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"samtrack/mask"
	"samtrack/media"
	"samtrack/pipeline"
)

func (a *app) segment(ctx context.Context, args []string) error {
	fs, cfgFile := flagSet("segment")
	imagePath := fs.String("image", "", "image file (JPEG or PNG)")
	videoPath := fs.String("video", "", "video file, image directory or URL")
	frameN := fs.Int("frame", 0, "frame number of --video, from 0")
	points := fs.StringArray("point", nil, "click X,Y[,LABEL] in frame pixels; LABEL 1 positive (default), 0 negative; repeatable")
	box := fs.String("box", "", "box X0,Y0,X1,Y1 in frame pixels")
	everything := fs.Bool("everything", false, "segment everything (automatic mask generation)")
	fs.String("sam-encoder", "", "SAM encoder ONNX file")
	fs.String("sam-decoder", "", "SAM decoder ONNX file")
	fs.String("model", "", "registered model name (samtrack models list)")
	fs.Bool("refine", false, "SAM-Track two-pass refinement")
	out := fs.String("out", "", "output file: .png (mask, or palette PNG of all masks) or .json (COCO RLE)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.load(*cfgFile, samFlags(fs))
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("segment: unexpected argument %q", fs.Arg(0))
	}
	if (*imagePath == "") == (*videoPath == "") {
		return usageErr("segment: give exactly one of --image FILE or --video FILE --frame N")
	}
	ext := strings.ToLower(filepath.Ext(*out))
	if *out == "" || (ext != ".png" && ext != ".json") {
		return usageErr("segment: --out must name a .png or .json file")
	}
	prompt, err := parsePrompt(*points, *box)
	if err != nil {
		return usageErr("segment: %v", err)
	}
	if *everything == (len(prompt.Points) > 0 || prompt.Box != nil) {
		return usageErr("segment: give --point/--box prompts or --everything, not both and not neither")
	}

	var img media.Image
	src := *imagePath
	if src != "" {
		img, err = readImage(src, c.Video.MaxPixels)
	} else {
		src = *videoPath
		img, err = readVideoFrame(ctx, src, *frameN, pipeline.FrameOptions(c, a.log))
	}
	if err != nil {
		return err
	}

	seg, err := pipeline.OpenSegmenter(c)
	if err != nil {
		return err
	}
	defer seg.Close()

	doc := segmentDoc{Image: docImage{File: src, Width: img.W, Height: img.H}, Segmenter: seg.Name}
	frame := media.Frame{Image: img}
	if src == *videoPath {
		doc.Image.Frame = frameN
		frame.Index = *frameN
	}
	var labels *mask.LabelMap
	if *everything {
		resp, err := seg.Segment(ctx, frame, media.SegmentRequest{Everything: true})
		if err != nil {
			return err
		}
		segs := resp.Segments
		// Larger masks first, so that smaller ones stay visible on top.
		sort.SliceStable(segs, func(i, j int) bool { return segs[i].Area > segs[j].Area })
		labels = mask.NewLabelMap(img.W, img.H)
		for i, s := range segs {
			id := i + 1
			for p, v := range s.Mask.Pix {
				if v != 0 {
					labels.Pix[p] = uint16(id)
				}
			}
			ann, err := annotation(id, s.Mask, s.PredictedIoU)
			if err != nil {
				return err
			}
			stab := s.StabilityScore
			ann.Stability = &stab
			ann.Point = s.PointCoords
			doc.Annotations = append(doc.Annotations, ann)
		}
		a.log.Info("everything mode", "masks", len(segs), "segmenter", seg.Name)
	} else {
		resp, err := seg.Segment(ctx, frame, media.SegmentRequest{Prompts: []media.Prompt{prompt}})
		if err != nil {
			return err
		}
		res := resp.Masks[0]
		ann, err := annotation(1, res.Mask, res.Score)
		if err != nil {
			return err
		}
		doc.Annotations = append(doc.Annotations, ann)
		labels = mask.NewLabelMap(img.W, img.H)
		for p, v := range res.Mask.Pix {
			if v != 0 {
				labels.Pix[p] = 1
			}
		}
		a.log.Info("segmented", "area", res.Mask.Area(), "score", res.Score, "segmenter", seg.Name)
	}

	write := func(w io.Writer) error {
		if ext == ".json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			return enc.Encode(doc)
		}
		if *everything {
			return mask.WritePalettePNG(w, labels)
		}
		return mask.WriteBinaryPNG(w, labels.Object(1))
	}
	if err := mask.WriteFileAtomic(*out, write); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	return nil
}

// samFlags binds the model-selection flags to their configuration keys.
func samFlags(fs *pflag.FlagSet) map[string]*pflag.Flag {
	return map[string]*pflag.Flag{
		"sam.encoder": fs.Lookup("sam-encoder"),
		"sam.decoder": fs.Lookup("sam-decoder"),
		"sam.model":   fs.Lookup("model"),
		"sam.refine":  fs.Lookup("refine"),
	}
}

// parsePrompt reads --point and --box values.
func parsePrompt(points []string, box string) (media.Prompt, error) {
	var p media.Prompt
	for _, s := range points {
		v, err := parseFloats(s)
		if err != nil || (len(v) != 2 && len(v) != 3) {
			return p, fmt.Errorf("--point %q: want X,Y or X,Y,LABEL", s)
		}
		pt := media.Point{X: v[0], Y: v[1], Label: 1}
		if len(v) == 3 {
			if v[2] != 0 && v[2] != 1 {
				return p, fmt.Errorf("--point %q: LABEL must be 1 (positive) or 0 (negative)", s)
			}
			pt.Label = int(v[2])
		}
		p.Points = append(p.Points, pt)
	}
	if box != "" {
		v, err := parseFloats(box)
		if err != nil || len(v) != 4 {
			return p, fmt.Errorf("--box %q: want X0,Y0,X1,Y1", box)
		}
		p.Box = &media.Box{X0: v[0], Y0: v[1], X1: v[2], Y1: v[3]}
	}
	return p, nil
}

func parseFloats(s string) ([]float64, error) {
	parts := strings.Split(s, ",")
	out := make([]float64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// The JSON written by `segment --out X.json`: COCO-style RLE annotations.
type segmentDoc struct {
	Image       docImage        `json:"image"`
	Segmenter   string          `json:"segmenter"`
	Annotations []annotationDoc `json:"annotations"`
}

type docImage struct {
	File   string `json:"file"`
	Frame  *int   `json:"frame,omitempty"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

type annotationDoc struct {
	ID           int                `json:"id"`
	Segmentation mask.CompressedRLE `json:"segmentation"`
	Area         int                `json:"area"`
	BBox         [4]int             `json:"bbox"`
	Score        float64            `json:"score"`
	Stability    *float64           `json:"stability_score,omitempty"`
	Point        [][2]float64       `json:"point_coords,omitempty"`
}

func annotation(id int, m *mask.Bitmap, score float64) (annotationDoc, error) {
	rle, err := mask.EncodeRLE(m)
	if err != nil {
		return annotationDoc{}, err
	}
	return annotationDoc{ID: id, Segmentation: rle.Compress(), Area: rle.Area(), BBox: rle.BBox(), Score: score}, nil
}
