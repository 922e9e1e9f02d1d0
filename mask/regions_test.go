package mask

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// bfsComponents is a plain breadth-first reference labelling (8-connected,
// raster order of first pixel).
func bfsComponents(b *Bitmap) ([]int32, []int) {
	labels := make([]int32, len(b.Pix))
	sizes := []int{0}
	var queue []int
	n := int32(0)
	for i, v := range b.Pix {
		if v == 0 {
			sizes[0]++
			continue
		}
		if labels[i] != 0 {
			continue
		}
		n++
		sizes = append(sizes, 0)
		labels[i] = n
		queue = append(queue[:0], i)
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			sizes[n]++
			px, py := p%b.W, p/b.W
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					x, y := px+dx, py+dy
					if x < 0 || y < 0 || x >= b.W || y >= b.H {
						continue
					}
					q := y*b.W + x
					if b.Pix[q] != 0 && labels[q] == 0 {
						labels[q] = n
						queue = append(queue, q)
					}
				}
			}
		}
	}
	return labels, sizes
}

func TestConnectedComponents(t *testing.T) {
	t.Run("shapes", func(t *testing.T) {
		tests := []struct {
			name  string
			rows  []string
			sizes []int
		}{
			{"diagonal joins", []string{"100", "010", "001"}, []int{6, 3}},
			{"U merges late", []string{"1010", "1010", "1110"}, []int{5, 7}},
			{"W then NE", []string{"0001", "0010", "1100"}, []int{8, 4}},
			{"two islands raster order", []string{"0011", "0000", "1000"}, []int{9, 2, 1}},
			{"empty", []string{"000"}, []int{3}},
			{"full", []string{"11", "11"}, []int{0, 4}},
		}
		for _, tc := range tests {
			c, err := ConnectedComponents(bitmapFromRows(tc.rows...))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Sizes, tc.sizes) {
				t.Errorf("%s: sizes %v, want %v", tc.name, c.Sizes, tc.sizes)
			}
		}
	})
	t.Run("random against BFS", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for trial := 0; trial < 60; trial++ {
			w, h := 1+rng.IntN(70), 1+rng.IntN(70)
			fill := rng.Float64()
			b := NewBitmap(w, h)
			for i := range b.Pix {
				if rng.Float64() < fill {
					b.Pix[i] = 1
				}
			}
			c, err := ConnectedComponents(b)
			if err != nil {
				t.Fatal(err)
			}
			wantL, wantS := bfsComponents(b)
			if !slices.Equal(c.Labels, wantL) || !slices.Equal(c.Sizes, wantS) {
				t.Fatalf("%dx%d fill %.2f: labelling differs from BFS", w, h, fill)
			}
		}
	})
	if _, err := ConnectedComponents(&Bitmap{W: 2, H: 2}); err == nil {
		t.Error("no error for a bitmap without pixels")
	}
}

func TestRemoveSmallRegions(t *testing.T) {
	tests := []struct {
		name    string
		rows    []string
		thresh  float64
		mode    RegionMode
		want    []string
		changed bool
	}{
		{
			name: "fill small hole",
			rows: []string{
				"00000000",
				"01111110",
				"01011110",
				"01111110",
				"00000000"},
			thresh: 2, mode: Holes,
			want: []string{
				"00000000",
				"01111110",
				"01111110",
				"01111110",
				"00000000"},
			changed: true,
		},
		{
			name:   "hole at the limit stays (strict <)",
			rows:   []string{"0000000", "0111110", "0100110", "0111110", "0000000"},
			thresh: 2, mode: Holes,
			want:    []string{"0000000", "0111110", "0100110", "0111110", "0000000"},
			changed: false,
		},
		{
			name: "small background touching the border is filled too (upstream)",
			rows: []string{"0111", "1111", "1111"}, thresh: 2, mode: Holes,
			want: []string{"1111", "1111", "1111"}, changed: true,
		},
		{
			name: "remove small island keep big",
			rows: []string{
				"11100001",
				"11100000",
				"11100000"},
			thresh: 3, mode: Islands,
			want: []string{
				"11100000",
				"11100000",
				"11100000"},
			changed: true,
		},
		{
			name:   "all islands small: keep the largest",
			rows:   []string{"1100001", "1000000", "0000100"},
			thresh: 10, mode: Islands,
			want:    []string{"1100000", "1000000", "0000000"},
			changed: true,
		},
		{
			name:   "all islands small and tied: keep the first",
			rows:   []string{"0010001"},
			thresh: 5, mode: Islands,
			want:    []string{"0010000"},
			changed: true,
		},
		{
			name:   "nothing small",
			rows:   []string{"1100", "1100"},
			thresh: 4, mode: Islands,
			want:    []string{"1100", "1100"},
			changed: false,
		},
		{
			name:   "empty mask",
			rows:   []string{"0000"},
			thresh: 100, mode: Islands,
			want:    []string{"0000"},
			changed: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := bitmapFromRows(tc.rows...)
			orig := in.Clone()
			out, changed, err := RemoveSmallRegions(in, tc.thresh, tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Errorf("changed %v, want %v", changed, tc.changed)
			}
			if !equalBitmaps(out, bitmapFromRows(tc.want...)) {
				t.Errorf("result differs from %v", tc.want)
			}
			if !equalBitmaps(in, orig) {
				t.Errorf("input modified")
			}
		})
	}
	if _, _, err := RemoveSmallRegions(NewBitmap(2, 2), 1, "speckles"); err == nil {
		t.Error("no error for an unknown mode")
	}
	if _, _, err := RemoveSmallRegions(nil, 1, Holes); err == nil {
		t.Error("no error for a nil bitmap")
	}
}

func randomBlobs(w, h int, seed uint64) *Bitmap {
	rng := rand.New(rand.NewPCG(seed, 9))
	b := NewBitmap(w, h)
	for k := 0; k < 300; k++ {
		cx, cy, r := rng.IntN(w), rng.IntN(h), 2+rng.IntN(40)
		for y := max(cy-r, 0); y < min(cy+r, h); y++ {
			for x := max(cx-r, 0); x < min(cx+r, w); x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
					b.Pix[y*w+x] ^= 1
				}
			}
		}
	}
	return b
}

// BenchmarkRemoveSmallRegions1024 runs SAM's post-processing pair (holes,
// then islands) on a 1024x1024 mask; BenchmarkComponentsBFS1024 is the
// plain BFS labelling as a baseline.
func BenchmarkRemoveSmallRegions1024(b *testing.B) {
	m := randomBlobs(1024, 1024, 1)
	for b.Loop() {
		h, _, _ := RemoveSmallRegions(m, 200, Holes)
		RemoveSmallRegions(h, 200, Islands)
	}
}

func BenchmarkComponents1024(b *testing.B) {
	m := randomBlobs(1024, 1024, 1)
	for b.Loop() {
		ConnectedComponents(m)
	}
}

func BenchmarkComponentsBFS1024(b *testing.B) {
	m := randomBlobs(1024, 1024, 1)
	for b.Loop() {
		bfsComponents(m)
	}
}
