package deaot

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"samtrack/ort"
	"samtrack/tracker/deaot/sidecar"
)

// Tensor names of the contract.
const (
	nImage  = "image"
	nEmb    = "emb"
	nOneHot = "onehot"
	nLtK    = "lt_k"
	nLtV    = "lt_v"
	nLtIDV  = "lt_idv"
	nStK    = "st_k"
	nStV    = "st_v"
	nStIDV  = "st_idv"
	nCurK   = "cur_k"
	nCurV   = "cur_v"
	nCurID  = "cur_id"
	nLogits = "logits"
	nIDV    = "idv"
)

// resolveDir accepts a propagator directory, its propagator.json or any
// file inside it, and returns the directory.
func resolveDir(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("propagator %s: %w (want a directory holding %s and its ONNX graphs)", path, err, sidecar.File)
	}
	if st.IsDir() {
		return path, nil
	}
	return filepath.Dir(path), nil
}

// spec is one expected tensor: its shape, -1 for the dynamic memory axis.
type spec struct {
	name  string
	shape []int64
}

// checkIO compares a session's declared inputs or outputs with the
// contract. Inputs may be a subset of allowed (a graph need not read every
// tensor: DeAOT-T's reference graph, with one layer, never reads its
// labels), but every name in required must be there; outputs must include
// every required one. A declared axis left dynamic (exporters such as
// PyTorch 1.13's leave some output axes unnamed) is accepted where the
// sidecar fixes the size; checkRun checks the real size when the graph runs.
func checkIO(graph, what string, have []ort.IOInfo, required []spec, allowed map[string][]int64) error {
	byName := map[string]ort.IOInfo{}
	for _, io := range have {
		byName[io.Name] = io
	}
	var errs []error
	for _, r := range required {
		if _, ok := byName[r.name]; !ok {
			errs = append(errs, fmt.Errorf("%s: %s %q is missing", graph, what, r.name))
		}
	}
	for _, io := range have {
		want, ok := allowed[io.Name]
		if !ok {
			if what == "input" {
				errs = append(errs, fmt.Errorf("%s: unknown input %q (the contract feeds only %s)", graph, io.Name, keys(allowed)))
			}
			continue
		}
		if io.Type != ort.Float32 {
			errs = append(errs, fmt.Errorf("%s: %s %q is %s, want float32", graph, what, io.Name, io.TypeName))
		}
		if want == nil { // encoder skip features: any shape
			continue
		}
		if !shapeMatches(io.Shape, want) {
			errs = append(errs, fmt.Errorf("%s: %s %s, want shape %v (-1 = dynamic) as the sidecar says", graph, what, io, want))
		}
	}
	return errors.Join(errs...)
}

// shapeMatches reports whether a declared shape fits the contract's: the
// same rank; an axis the contract leaves dynamic (-1) must be dynamic; an
// axis the contract fixes must have that size or be dynamic.
func shapeMatches(have, want []int64) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if want[i] == -1 {
			if have[i] != -1 {
				return false
			}
			continue
		}
		if have[i] != want[i] && have[i] >= 0 {
			return false
		}
	}
	return true
}

// checkRun checks a graph run's outputs against the shapes the sidecar
// fixes: every named output is there with exactly that shape. Open accepts
// dynamic axes, so this is where their real sizes are checked.
func checkRun(graph string, res map[string]ort.Tensor, want map[string][]int64) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(want)) {
		t, ok := res[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: output %q is missing from the run", graph, name))
		case !slices.Equal(t.Shape, want[name]) || len(t.F32) != t.Len():
			errs = append(errs, fmt.Errorf("%s: output %q has shape %v at run time, but the sidecar says %v; "+
				"re-export the model or correct %s", graph, name, t.Shape, want[name], sidecar.File))
		}
	}
	return errors.Join(errs...)
}

func keys(m map[string][]int64) string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return strings.Join(k, ", ")
}
