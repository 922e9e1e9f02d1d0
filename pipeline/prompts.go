package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"samtrack/media"
)

// Prompts is the prompts file of `samtrack track --prompts` and the
// `prompts` object of the service API:
//
//	{"mask": "FILE.png", "mask_frame": 0,
//	 "objects": [{"id": 1, "frame": 0, "points": [[x, y, label]],
//	              "box": [x0, y0, x1, y1], "mask": "FILE.png"}]}
//
// Every field is optional, but at least one prompt is required. Relative
// paths resolve against the prompts file's directory.
type Prompts struct {
	// Mask is one label PNG holding several object ids (DAVIS style).
	Mask      string         `json:"mask,omitempty"`
	MaskFrame int            `json:"mask_frame,omitempty"`
	Objects   []ObjectPrompt `json:"objects,omitempty"`
}

// ObjectPrompt prompts one object on one frame.
type ObjectPrompt struct {
	// ID is the object's id, from 1; left out (0), the tracker chooses the
	// next free id. An explicit "id": 0 is refused (0 is the background).
	ID    int `json:"id,omitempty"`
	Frame int `json:"frame,omitempty"`
	// Points are [x, y] or [x, y, label] in frame pixels (label 1
	// positive, the default, or 0 negative).
	Points [][]float64 `json:"points,omitempty"`
	// Box is [x0, y0, x1, y1] in frame pixels.
	Box []float64 `json:"box,omitempty"`
	// Mask is a binary or label PNG of this object (non-zero = inside).
	Mask string `json:"mask,omitempty"`
}

// Empty reports whether no prompt at all is given.
func (p Prompts) Empty() bool { return p.Mask == "" && len(p.Objects) == 0 }

// ParsePrompts decodes a prompts document strictly (an unknown field is an
// error naming it) and resolves relative mask paths against baseDir.
func ParsePrompts(data []byte, baseDir string) (Prompts, error) {
	var p Prompts
	data = bytes.TrimPrefix(data, utf8BOM) // editors on Windows write one
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("prompts: %w; the layout is {\"mask\": FILE, \"mask_frame\": N, \"objects\": [{\"id\", \"frame\", \"points\": [[x, y, label]], \"box\": [x0, y0, x1, y1], \"mask\"}]}", err)
	}
	if dec.More() {
		return p, errors.New("prompts: trailing data after the JSON object")
	}
	if err := explicitZeroIDs(data); err != nil {
		return p, err
	}
	resolve := func(s string) string {
		if s == "" || filepath.IsAbs(s) || baseDir == "" {
			return s
		}
		return filepath.Join(baseDir, s)
	}
	p.Mask = resolve(p.Mask)
	for i := range p.Objects {
		p.Objects[i].Mask = resolve(p.Objects[i].Mask)
	}
	return p, p.Validate()
}

var utf8BOM = []byte("\xef\xbb\xbf")

// explicitZeroIDs refuses "id": 0, which names the background; an object
// without an id gets the next free one.
func explicitZeroIDs(data []byte) error {
	var ids struct {
		Objects []struct {
			ID *json.Number `json:"id"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(data, &ids); err != nil {
		return nil // the strict decode has accepted it; nothing to add
	}
	for i, o := range ids.Objects {
		if o.ID != nil && *o.ID == "0" {
			return fmt.Errorf("prompts: objects[%d]: id 0 is the background; give ids from 1, or leave \"id\" out to let the tracker number the object", i)
		}
	}
	return nil
}

// CheckLimits refuses more prompts than the job may give in all
// (track.max_prompts) or on one frame (track.max_frame_prompts), before any
// work starts: each prompt costs a SAM decoder pass.
func (p Prompts) CheckLimits(perJob, perFrame int) error {
	n := len(p.Objects)
	if p.Mask != "" {
		n++
	}
	if n > perJob {
		return fmt.Errorf("prompts: %d prompts is over the limit of %d per job (track.max_prompts); split the work into several jobs or raise the limit", n, perJob)
	}
	onFrame := map[int]int{}
	if p.Mask != "" {
		onFrame[p.MaskFrame]++
	}
	for _, o := range p.Objects {
		onFrame[o.Frame]++
		if onFrame[o.Frame] > perFrame {
			return fmt.Errorf("prompts: more than %d prompts on frame %d (track.max_frame_prompts); spread them over frames or raise the limit", perFrame, o.Frame)
		}
	}
	return nil
}

// pastEnd refuses a prompt on a frame after last, the last frame of a
// finished file input: it was never applied, and the run would otherwise
// end with fewer objects than asked for and no word about it. (A live
// input has no end; a prompt for a future frame waits for it.)
func (p Prompts) pastEnd(last int, capped bool) error {
	max, what := -1, ""
	if p.Mask != "" {
		max, what = p.MaskFrame, "mask_frame"
	}
	for i, o := range p.Objects {
		if o.Frame > max {
			max, what = o.Frame, fmt.Sprintf("objects[%d]", i)
		}
	}
	if max <= last {
		return nil
	}
	end := fmt.Sprintf("the input has %d frames (0 to %d)", last+1, last)
	if capped {
		end = fmt.Sprintf("the run ended at frame %d (video.max_frames)", last)
	}
	return media.PromptErrorf("prompts: %s is on frame %d, past the end: %s; give a frame inside the input", what, max, end)
}

// LoadPrompts reads a prompts file.
func LoadPrompts(path string) (Prompts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Prompts{}, fmt.Errorf("read prompts: %w", err)
	}
	p, err := ParsePrompts(b, filepath.Dir(path))
	if err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Validate checks the shape of every prompt.
func (p Prompts) Validate() error {
	if p.MaskFrame < 0 {
		return fmt.Errorf("prompts: mask_frame %d is negative", p.MaskFrame)
	}
	first := map[[2]int]int{} // (id, frame) -> index of its first prompt
	for i, o := range p.Objects {
		where := fmt.Sprintf("prompts: objects[%d]", i)
		if o.ID > 0 {
			k := [2]int{o.ID, o.Frame}
			if j, dup := first[k]; dup {
				return fmt.Errorf("%s: object id %d is prompted twice on frame %d (also objects[%d]); give one prompt per object and frame (points and a box may go together)", where, o.ID, o.Frame, j)
			}
			first[k] = i
		}
		if o.ID < 0 || o.ID > 65535 {
			return fmt.Errorf("%s: id %d is outside 0..65535", where, o.ID)
		}
		if o.Frame < 0 {
			return fmt.Errorf("%s: frame %d is negative", where, o.Frame)
		}
		if len(o.Points) == 0 && o.Box == nil && o.Mask == "" {
			return fmt.Errorf("%s: give points, a box or a mask", where)
		}
		if o.Mask != "" && (len(o.Points) > 0 || o.Box != nil) {
			return fmt.Errorf("%s: give a mask or points/box, not both", where)
		}
		for j, pt := range o.Points {
			if len(pt) != 2 && len(pt) != 3 {
				return fmt.Errorf("%s.points[%d]: want [x, y] or [x, y, label]", where, j)
			}
			if len(pt) == 3 && pt[2] != 0 && pt[2] != 1 {
				return fmt.Errorf("%s.points[%d]: label %g; use 1 (positive) or 0 (negative)", where, j, pt[2])
			}
		}
		if o.Box != nil && len(o.Box) != 4 {
			return fmt.Errorf("%s.box: want [x0, y0, x1, y1]", where)
		}
	}
	return nil
}

// Prompt converts an object's points and box to a media.Prompt.
func (o ObjectPrompt) Prompt() media.Prompt {
	var p media.Prompt
	for _, pt := range o.Points {
		label := 1
		if len(pt) == 3 {
			label = int(pt[2])
		}
		p.Points = append(p.Points, media.Point{X: pt[0], Y: pt[1], Label: label})
	}
	if len(o.Box) == 4 {
		p.Box = &media.Box{X0: o.Box[0], Y0: o.Box[1], X1: o.Box[2], Y1: o.Box[3]}
	}
	return p
}
