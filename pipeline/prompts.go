package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"samtrack/segment"
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
	// ID is the object's id; 0 lets the tracker choose the next free id.
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
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("prompts: %w; the layout is {\"mask\": FILE, \"mask_frame\": N, \"objects\": [{\"id\", \"frame\", \"points\": [[x, y, label]], \"box\": [x0, y0, x1, y1], \"mask\"}]}", err)
	}
	if dec.More() {
		return p, errors.New("prompts: trailing data after the JSON object")
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
	for i, o := range p.Objects {
		where := fmt.Sprintf("prompts: objects[%d]", i)
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

// Prompt converts an object's points and box to a segment.Prompt.
func (o ObjectPrompt) Prompt() segment.Prompt {
	var p segment.Prompt
	for _, pt := range o.Points {
		label := 1
		if len(pt) == 3 {
			label = int(pt[2])
		}
		p.Points = append(p.Points, segment.Point{X: pt[0], Y: pt[1], Label: label})
	}
	if len(o.Box) == 4 {
		p.Box = &segment.Box{X0: o.Box[0], Y0: o.Box[1], X1: o.Box[2], Y1: o.Box[3]}
	}
	return p
}
