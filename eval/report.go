package eval

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
)

// Object is the result for one object of one sequence.
type Object struct {
	ID   int   // object id (1..K)
	J, F Stats // per-object statistics over the scored frames
	// JFrames and FFrames hold the per-frame values, aligned with
	// Sequence.Frames.
	JFrames, FFrames []float64
}

// Sequence is the result for one sequence.
type Sequence struct {
	Name           string
	GTDir, PredDir string
	// Frames are the scored frames (file names without .png): every GT
	// frame but the first and the last.
	Frames  []string
	Objects []Object
}

// Report is a full DAVIS evaluation. The global figures average the
// per-object statistics over all objects of all sequences (not per
// sequence), as davis2017-evaluation does.
type Report struct {
	Sequences  []Sequence
	NumObjects int
	JFMean     float64 // (J.Mean + F.Mean) / 2
	J, F       Stats
}

func buildReport(seqs []*sequence) (*Report, error) {
	r := &Report{}
	var jm, jr, jd, fm, fr, fd float64
	for _, s := range seqs {
		out := Sequence{Name: s.name, GTDir: s.gtDir, PredDir: s.predDir}
		for _, f := range s.files[1 : len(s.files)-1] {
			out.Frames = append(out.Frames, trimExt(f))
		}
		for o := 0; o < s.k; o++ {
			obj := Object{ID: o + 1, J: ComputeStats(s.j[o]), F: ComputeStats(s.f[o]), JFrames: s.j[o], FFrames: s.f[o]}
			out.Objects = append(out.Objects, obj)
			jm, jr, jd = jm+obj.J.Mean, jr+obj.J.Recall, jd+obj.J.Decay
			fm, fr, fd = fm+obj.F.Mean, fr+obj.F.Recall, fd+obj.F.Decay
			r.NumObjects++
		}
		r.Sequences = append(r.Sequences, out)
	}
	if r.NumObjects == 0 {
		return nil, fmt.Errorf("evaluate: no objects to score: the first ground-truth frame of every sequence is empty")
	}
	n := float64(r.NumObjects)
	r.J = Stats{jm / n, jr / n, jd / n}
	r.F = Stats{fm / n, fr / n, fd / n}
	r.JFMean = (r.J.Mean + r.F.Mean) / 2
	return r, nil
}

func trimExt(name string) string {
	if len(name) > 4 {
		return name[:len(name)-4]
	}
	return name
}

// jsonFloat writes NaN as null, since JSON has no NaN.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(f), 'g', -1, 64), nil
}

type jsonObject struct {
	JF      jsonFloat `json:"J&F-Mean"`
	JMean   jsonFloat `json:"J-Mean"`
	JRecall jsonFloat `json:"J-Recall"`
	JDecay  jsonFloat `json:"J-Decay"`
	FMean   jsonFloat `json:"F-Mean"`
	FRecall jsonFloat `json:"F-Recall"`
	FDecay  jsonFloat `json:"F-Decay"`
}

type jsonReport struct {
	jsonObject
	NumObjects int                              `json:"objects"`
	Sequences  map[string]map[string]jsonObject `json:"sequences"`
}

func toJSONObject(jf float64, j, f Stats) jsonObject {
	return jsonObject{jsonFloat(jf), jsonFloat(j.Mean), jsonFloat(j.Recall), jsonFloat(j.Decay),
		jsonFloat(f.Mean), jsonFloat(f.Recall), jsonFloat(f.Decay)}
}

// JSON returns the report as one object: the global "J&F-Mean", "J-Mean",
// "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay" and "objects",
// and "sequences": sequence name -> object id -> the same seven keys.
func (r *Report) JSON() ([]byte, error) {
	out := jsonReport{
		jsonObject: toJSONObject(r.JFMean, r.J, r.F),
		NumObjects: r.NumObjects,
		Sequences:  map[string]map[string]jsonObject{},
	}
	for _, s := range r.Sequences {
		m := map[string]jsonObject{}
		for _, o := range s.Objects {
			m[strconv.Itoa(o.ID)] = toJSONObject((o.J.Mean+o.F.Mean)/2, o.J, o.F)
		}
		out.Sequences[s.Name] = m
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "J&F-Mean" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteText writes the global results and one row per sequence object, in
// the layout of davis2017-evaluation's console output.
func (r *Report) WriteText(w io.Writer) error {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	fmt.Fprintf(w, "Global results (%d objects)\n", r.NumObjects)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "J&F-Mean\tJ-Mean\tJ-Recall\tJ-Decay\tF-Mean\tF-Recall\tF-Decay\t\n")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", f(r.JFMean), f(r.J.Mean), f(r.J.Recall), f(r.J.Decay), f(r.F.Mean), f(r.F.Recall), f(r.F.Decay))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(w, "\nPer sequence results\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "Sequence\tJ&F-Mean\tJ-Mean\tJ-Recall\tJ-Decay\tF-Mean\tF-Recall\tF-Decay\tframes\t\n")
	for _, s := range r.Sequences {
		for _, o := range s.Objects {
			fmt.Fprintf(tw, "%s_%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", s.Name, o.ID, f((o.J.Mean+o.F.Mean)/2),
				f(o.J.Mean), f(o.J.Recall), f(o.J.Decay), f(o.F.Mean), f(o.F.Recall), f(o.F.Decay), len(s.Frames))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WritePerFrameCSV writes one row per scored frame and object:
// sequence,frame,object,J,F (the columns of the reference
// osvos_per_frame.csv).
func (r *Report) WritePerFrameCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"sequence", "frame", "object", "J", "F"})
	for _, s := range r.Sequences {
		for _, o := range s.Objects {
			for i, fr := range s.Frames {
				cw.Write([]string{s.Name, fr, strconv.Itoa(o.ID),
					strconv.FormatFloat(o.JFrames[i], 'f', 6, 64), strconv.FormatFloat(o.FFrames[i], 'f', 6, 64)})
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write per-frame CSV: %w", err)
	}
	return nil
}
