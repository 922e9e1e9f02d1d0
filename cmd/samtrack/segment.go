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

	"samtrack/config"
	"samtrack/export"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/pipeline"
	"samtrack/tracker"
)

// segmentFlags are the parsed arguments of `samtrack segment`.
type segmentFlags struct {
	image, video string
	frame        int
	prompt       media.Prompt
	everything   bool
	out, ext     string
}

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
	f := segmentFlags{image: *imagePath, video: *videoPath, frame: *frameN, everything: *everything, out: *out}
	if err := f.check(*points, *box); err != nil {
		return err
	}
	return a.runSegment(ctx, c, f)
}

// check validates the flags and parses the prompt.
func (f *segmentFlags) check(points []string, box string) error {
	if (f.image == "") == (f.video == "") {
		return usageErr("segment: give exactly one of --image FILE or --video FILE --frame N")
	}
	f.ext = strings.ToLower(filepath.Ext(f.out))
	if f.out == "" || (f.ext != ".png" && f.ext != ".json") {
		return usageErr("segment: --out must name a .png or .json file")
	}
	prompt, err := parsePrompt(points, box)
	if err != nil {
		return usageErr("segment: %v", err)
	}
	if f.everything == (len(prompt.Points) > 0 || prompt.Box != nil) {
		return usageErr("segment: give --point/--box prompts or --everything, not both and not neither")
	}
	f.prompt = prompt
	return nil
}

// runSegment reads the picture, segments it and writes the output.
func (a *app) runSegment(ctx context.Context, c config.Config, f segmentFlags) error {
	doc := export.SegmentDoc{Image: export.SegmentImage{File: f.image}}
	var frame media.Frame
	var next *media.Image // the frame after it, on a video: as track gives the segmenter
	var err error
	if f.image != "" {
		frame.Image, err = readImage(ctx, f.image, pipeline.FrameOptions(c, a.log))
	} else {
		doc.Image.File, doc.Image.Frame, frame.Index = f.video, &f.frame, f.frame
		frame.Image, next, err = readVideoFrame(ctx, f.video, f.frame, pipeline.FrameOptions(c, a.log))
	}
	if err != nil && ctx.Err() == nil {
		// missing, unreadable or too large, or no such frame: the input
		return exitError{code: 2, err: err}
	}
	if err != nil {
		return err
	}
	doc.Image.Width, doc.Image.Height = frame.W, frame.H

	seg, err := pipeline.OpenSegmenter(c)
	if err != nil {
		return inputExit(err) // a model file that is not there: exit 2
	}
	defer seg.Close()
	doc.Segmenter = seg.Name
	var labels *mask.LabelMap
	if f.everything {
		labels, err = a.segmentEverything(ctx, seg, frame, c.Everything, &doc)
	} else {
		labels, err = a.segmentPrompt(ctx, seg, frame, next, f.prompt, c.Track.MinArea, &doc)
	}
	if err != nil {
		return inputExit(err)
	}
	write := func(w io.Writer) error {
		switch {
		case f.ext == ".json":
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			return enc.Encode(doc)
		case f.everything:
			return mask.WritePalettePNG(w, labels)
		}
		return mask.WriteBinaryPNG(w, labels.Object(1))
	}
	return mask.WriteFileAtomic(f.out, write) // its errors name f.out
}

// segmentEverything generates every mask of frame into doc and a label map,
// larger masks first so that smaller ones stay visible on top.
func (a *app) segmentEverything(ctx context.Context, seg *pipeline.Segmenter, frame media.Frame, c media.EverythingOptions, doc *export.SegmentDoc) (*mask.LabelMap, error) {
	resp, err := seg.Segment(ctx, frame, media.SegmentRequest{Everything: true})
	if err != nil {
		return nil, err
	}
	segs := resp.Segments
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].Area > segs[j].Area })
	labels := mask.NewLabelMap(frame.W, frame.H)
	for i, s := range segs {
		id := i + 1
		labels.Paint(s.Mask, uint16(id))
		ann, err := export.NewSegmentAnnotation(id, s.Mask, s.PredictedIoU)
		if err != nil {
			return nil, err
		}
		stab := s.StabilityScore
		ann.Stability = &stab
		ann.Point = s.PointCoords
		doc.Annotations = append(doc.Annotations, ann)
	}
	a.log.Info("everything mode", "masks", len(segs), "segmenter", seg.Name)
	if len(segs) == 0 {
		a.log.Warn(c.NothingFound())
	}
	return labels, nil
}

// segmentPrompt segments one prompt on frame as object 1, with a warning
// (on stderr and in doc) when its mask is doubtful, as track gives one.
func (a *app) segmentPrompt(ctx context.Context, seg *pipeline.Segmenter, frame media.Frame, next *media.Image, p media.Prompt, minArea int, doc *export.SegmentDoc) (*mask.LabelMap, error) {
	resp, err := seg.Segment(ctx, frame, media.SegmentRequest{Prompts: []media.Prompt{p}, Next: next})
	if err != nil {
		return nil, err
	}
	res := resp.Masks[0]
	ann, err := export.NewSegmentAnnotation(1, res.Mask, res.Score)
	if err != nil {
		return nil, err
	}
	ann.Warning = tracker.PromptWarning(ann.Area, minArea, res.Score)
	doc.Annotations = append(doc.Annotations, ann)
	labels := mask.NewLabelMap(frame.W, frame.H)
	labels.Paint(res.Mask, 1)
	a.log.Info("segmented", "area", res.Mask.Area(), "score", res.Score, "segmenter", seg.Name)
	if ann.Warning != "" {
		fmt.Fprintf(a.stderr, "warning: %s\n", ann.Warning)
	}
	return labels, nil
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
