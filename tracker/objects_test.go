package tracker

import (
	"encoding/json"
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
