package tracker

import (
	"encoding/json"
	"strings"
	"testing"

	"samtrack/mask"
)

func TestIntervalJSON(t *testing.T) {
	in := []Interval{{3, 9}, {12, -1}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[[3,9],[12,null]]` {
		t.Errorf("JSON %s", b)
	}
	var out []Interval
	if err := json.Unmarshal(b, &out); err != nil || len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Errorf("round trip %v (%v)", out, err)
	}
	var bad Interval
	if err := json.Unmarshal([]byte(`[null,3]`), &bad); err == nil {
		t.Error("no error for an interval without a start")
	}
}

// TestObjectJSONArrays: an object never lost (or never seen) has empty
// arrays in tracks.json, not null.
func TestObjectJSONArrays(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  Object
		want string
	}{
		{"never lost", Object{ID: 1, Present: []Interval{{0, -1}}}, `"present":[[0,null]],"lost_intervals":[]`},
		{"never seen", Object{ID: 2, FirstFrame: -1, LastFrame: -1}, `"present":[],"lost_intervals":[]`},
		{"lost once", Object{ID: 3, Present: []Interval{{0, 4}}, Lost: []Interval{{4, -1}}}, `"present":[[0,4]],"lost_intervals":[[4,null]]`},
	} {
		b, err := json.Marshal(tc.obj)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: JSON %s lacks %s", tc.name, b, tc.want)
		}
		var back Object
		if err := json.Unmarshal(b, &back); err != nil || back.ID != tc.obj.ID || len(back.Present) != len(tc.obj.Present) || len(back.Lost) != len(tc.obj.Lost) {
			t.Errorf("%s: round trip %+v (%v)", tc.name, back, err)
		}
	}
}

func TestInteriorPoint(t *testing.T) {
	// an L shape: the thick vertical bar's centre is the most interior
	l := mask.NewLabelMap(30, 30)
	for y := 2; y < 28; y++ {
		for x := 2; x < 14; x++ {
			l.Pix[y*30+x] = 4
		}
	}
	for y := 22; y < 28; y++ {
		for x := 14; x < 28; x++ {
			l.Pix[y*30+x] = 4
		}
	}
	x, y := interiorPoint(l, 4, 2, 2, 27, 27)
	if l.Pix[y*30+x] != 4 || x < 6 || x > 9 || y < 6 || y > 20 {
		t.Errorf("interior point (%d, %d), want inside the thick bar, away from its edges", x, y)
	}
	ids, prompts := refreshPrompts(l, nil)
	if len(ids) != 1 || ids[0] != 4 || len(prompts[0].Points) != 1 || prompts[0].Points[0].Label != 1 {
		t.Errorf("refresh prompts %v %+v", ids, prompts)
	}
	if ids, _ := refreshPrompts(l, map[uint16]bool{4: true}); len(ids) != 0 {
		t.Errorf("skipped id still prompted: %v", ids)
	}
}
