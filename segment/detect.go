package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"samtrack/media"
	"samtrack/ort"
)

// Role says which half of a SAM-family model an ONNX file is.
type Role string

// The two halves of a model.
const (
	RoleEncoder Role = "encoder"
	RoleDecoder Role = "decoder"
	// RoleInpainter is not a SAM half: an image inpainting model (LaMa) that
	// samtrack remove uses; it lives in this registry so that one detector
	// and `models inspect` cover every ONNX file samtrack reads.
	RoleInpainter Role = "inpainter"
)

// Layout is one known ONNX layout of a SAM-family file, recognised from its
// input and output names and checked on their shapes. Each layout lives in
// a file of its own (sam1_encoder.go, sam1_decoder.go, sam2_layout.go,
// detect_foreign.go, lama_layout.go); supporting a new export means adding a file with its
// layouts and, for a new family, its entry in families().
type Layout struct {
	// Name is a stable identifier, e.g. "sam1-decoder".
	Name string
	// Title says what produces this layout, for people.
	Title string
	// Family groups the encoder and decoder layouts that work together.
	Family string
	Role   Role
	// Supported is false for layouts that are only recognised, so that a
	// refusal can name them.
	Supported bool
	// Inputs lists every input the layout has (a file with other inputs
	// does not match: they could not be fed). Outputs lists the outputs it
	// must have; extra outputs are allowed.
	Inputs, Outputs []string
	// Check, when set, verifies ranks and fixed dimensions once the names
	// matched, returning what it found (reasons) or why it does not fit.
	Check func(in, out []ort.IOInfo) (reasons []string, err error)
}

// Expect describes the layout's I/O for messages.
func (l *Layout) Expect() string {
	return fmt.Sprintf("inputs %s -> outputs %s", strings.Join(l.Inputs, ", "), strings.Join(l.Outputs, ", "))
}

// layouts is the registry, most specific first. It is built on each call
// so that the package holds no mutable state.
func layouts() []*Layout {
	return []*Layout{
		sam1DecoderLayout(),
		sam1EncoderLayout(),
		sam1EncoderPreprocessLayout(),
		sam2EncoderLayout(),
		sam2DecoderLayout(),
		edgeSAMEncoderLayout(),
		edgeSAMDecoderLayout(),
		efficientSAMEncoderLayout(),
		efficientSAMDecoderLayout(),
		samHQDecoderLayout(),
		lamaLayout(),
	}
}

// Layouts lists the known layouts (supported or only recognised).
func Layouts() []Layout {
	var out []Layout
	for _, l := range layouts() {
		out = append(out, *l)
	}
	return out
}

// Detection is what Detect found in one file.
type Detection struct {
	// Path is the file (empty for Detect on a bare signature).
	Path string
	// Layout is the matching layout, nil when none matched.
	Layout *Layout
	// Reasons explains the match, or the mismatch with the closest layout.
	Reasons []string
	// Resembles names the closest layout by shared tensor names when no
	// layout matched (nil when nothing is close).
	Resembles *Layout
	Inputs    []ort.IOInfo
	Outputs   []ort.IOInfo
}

// Format is the matching layout's name, or "unknown".
func (d Detection) Format() string {
	if d.Layout == nil {
		return "unknown"
	}
	return d.Layout.Name
}

// Err explains why the file cannot be used in the given role (empty role:
// any role), or returns nil when it can.
func (d Detection) Err(role Role) error {
	name := d.Path
	if name == "" {
		name = "model"
	}
	found := fmt.Sprintf("inputs [%s], outputs [%s]", ioList(d.Inputs), ioList(d.Outputs))
	if d.Layout == nil {
		var expect []string
		for _, l := range layouts() {
			if l.Supported && (role == "" || l.Role == role) {
				expect = append(expect, fmt.Sprintf("%s (%s)", l.Title, l.Expect()))
			}
		}
		msg := fmt.Sprintf("%s: not a known SAM %s layout: found %s; expected one of: %s",
			name, roleWord(role), found, strings.Join(expect, "; "))
		if d.Resembles != nil {
			msg += fmt.Sprintf("; it resembles %s", d.Resembles.Title)
			if !d.Resembles.Supported {
				msg += ", which samtrack does not support yet"
			}
		}
		if len(d.Reasons) > 0 {
			msg += " (" + strings.Join(d.Reasons, "; ") + ")"
		}
		return fmt.Errorf("%s; export the model with samexporter or the official script", msg)
	}
	if !d.Layout.Supported {
		return fmt.Errorf("%s: this is %s (found %s), which samtrack recognises but does not support yet; use a SAM v1, MobileSAM or SAM 2 export (samexporter layout)",
			name, d.Layout.Title, found)
	}
	if role != "" && d.Layout.Role != role {
		return fmt.Errorf("%s: expected a SAM %s but this file is %s (found %s); are the encoder and decoder paths swapped?",
			name, role, d.Layout.Title, found)
	}
	return nil
}

func roleWord(r Role) string {
	if r == "" {
		return "encoder or decoder"
	}
	return string(r)
}

func ioList(v []ort.IOInfo) string {
	s := make([]string, len(v))
	for i, x := range v {
		typ := x.Type.String()
		if x.Type == ort.Other {
			typ = x.TypeName
		}
		s[i] = x.Name + " " + typ + fmtShape(x.Shape)
	}
	return strings.Join(s, ", ")
}

func ioNames(v []ort.IOInfo) []string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = x.Name
	}
	return s
}

// Detect matches an input/output signature against the known layouts.
func Detect(inputs, outputs []ort.IOInfo) Detection {
	d := Detection{Inputs: inputs, Outputs: outputs}
	in, out := ioNames(inputs), ioNames(outputs)
	var nearMiss []string
	var nearLayout *Layout
	for _, l := range layouts() {
		missing := missingNames(l.Inputs, in)
		extra := missingNames(in, l.Inputs)
		missingOut := missingNames(l.Outputs, out)
		if len(missing)+len(extra)+len(missingOut) > 0 {
			continue
		}
		reasons := []string{
			fmt.Sprintf("inputs %s are those of %s", strings.Join(l.Inputs, ", "), l.Title),
			fmt.Sprintf("outputs include %s", strings.Join(l.Outputs, ", ")),
		}
		if l.Check != nil {
			more, err := l.Check(inputs, outputs)
			if err != nil {
				if nearLayout == nil {
					nearLayout = l
					nearMiss = []string{fmt.Sprintf("the names match but %v", err)}
				}
				continue
			}
			reasons = append(reasons, more...)
		}
		d.Layout = l
		d.Reasons = reasons
		return d
	}
	if nearLayout != nil {
		d.Resembles = nearLayout
		d.Reasons = nearMiss
		return d
	}
	// No layout matched: name the closest one by shared tensor names.
	best, bestScore := (*Layout)(nil), 0.0
	have := append(append([]string(nil), in...), out...)
	for _, l := range layouts() {
		want := append(append([]string(nil), l.Inputs...), l.Outputs...)
		common := len(want) - len(missingNames(want, have))
		union := len(want) + len(have) - common
		if union == 0 {
			continue
		}
		if s := float64(common) / float64(union); s > bestScore {
			best, bestScore = l, s
		}
	}
	if best != nil && bestScore >= 0.25 {
		d.Resembles = best
		var why []string
		if m := missingNames(best.Inputs, in); len(m) > 0 {
			why = append(why, "missing inputs "+strings.Join(m, ", "))
		}
		if m := missingNames(in, best.Inputs); len(m) > 0 {
			why = append(why, "unexpected inputs "+strings.Join(m, ", "))
		}
		if m := missingNames(best.Outputs, out); len(m) > 0 {
			why = append(why, "missing outputs "+strings.Join(m, ", "))
		}
		if len(why) > 0 {
			d.Reasons = why
		}
	}
	return d
}

// missingNames returns the names of want that are not in have.
func missingNames(want, have []string) []string {
	var m []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			m = append(m, w)
		}
	}
	return m
}

// DetectFile reads the signature of an ONNX file and detects its layout.
// This is what `samtrack models inspect FILE` prints.
func DetectFile(rt *ort.Runtime, path string) (Detection, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return Detection{Path: path}, media.ModelNotFoundf("model file %s: no such file; check the path, or pull a model by name (`samtrack models list`)", path)
	} else if err != nil {
		return Detection{Path: path}, fmt.Errorf("model file: %w", err)
	}
	in, out, err := rt.Inspect(path)
	if err != nil {
		return Detection{Path: path}, fmt.Errorf("inspect %s: %w", path, err)
	}
	d := Detect(in, out)
	d.Path = path
	return d, nil
}

// dimIs reports whether a dimension equals want or is dynamic.
func dimIs(d, want int64) bool { return d < 0 || d == want }

// checkShape verifies the rank and the fixed dimensions (-1 in want: any).
func checkShape(info ort.IOInfo, want ...int64) error {
	if len(info.Shape) != len(want) {
		return fmt.Errorf("%s has rank %d, want %d (%v)", info.Name, len(info.Shape), len(want), fmtShape(want))
	}
	for i, w := range want {
		if w >= 0 && !dimIs(info.Shape[i], w) {
			return fmt.Errorf("%s has shape %s, want %s", info.Name, fmtShape(info.Shape), fmtShape(want))
		}
	}
	return nil
}

func fmtShape(s []int64) string {
	p := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			p[i] = "?"
		} else {
			p[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(p, ",") + "]"
}

func findIO(v []ort.IOInfo, name string) (ort.IOInfo, bool) {
	for _, x := range v {
		if x.Name == name {
			return x, true
		}
	}
	return ort.IOInfo{}, false
}

// checkShapes runs checkShape on named tensors of a signature.
func checkShapes(v []ort.IOInfo, want map[string][]int64) error {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		info, ok := findIO(v, k)
		if !ok {
			return fmt.Errorf("no tensor %s", k)
		}
		if err := checkShape(info, want[k]...); err != nil {
			return err
		}
		if info.Type != ort.Float32 {
			return fmt.Errorf("%s is %s, want float32", k, info.TypeName)
		}
	}
	return nil
}

// Describe is a multi-line report of the detection for people (what
// `samtrack models inspect FILE` prints): the layout or the refusal, the
// reasons, and the tensors found.
func (d Detection) Describe() string {
	var b strings.Builder
	name := d.Path
	if name == "" {
		name = "model"
	}
	if d.Layout != nil {
		fmt.Fprintf(&b, "%s: %s (%s, %s)\n", name, d.Layout.Name, d.Layout.Title, d.Layout.Role)
	} else {
		fmt.Fprintf(&b, "%s: unknown layout\n", name)
	}
	for _, r := range d.Reasons {
		fmt.Fprintf(&b, "  - %s\n", r)
	}
	fmt.Fprintf(&b, "  inputs:  %s\n  outputs: %s\n", ioList(d.Inputs), ioList(d.Outputs))
	if err := d.Err(""); err != nil {
		fmt.Fprintf(&b, "  not usable: %v\n", err)
	}
	return b.String()
}
