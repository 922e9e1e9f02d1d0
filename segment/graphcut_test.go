//go:build !nogocv

package segment

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCutGridFixedPixels checks that leaving the definite pixels out of
// the graph gives the cut of the whole graph in which they pay 9·gamma to
// change (cv::grabCut's graph), on textured images with random costs, on
// both sides of the balance between the classes.
func TestCutGridFixedPixels(t *testing.T) {
	const gamma = 50
	for _, tc := range []struct {
		name   string
		w, h   int
		fixed  float64 // share of definite pixels
		fgBias float64 // added to what a free pixel pays to be background
		seed   uint64
	}{
		{"box-like, balanced", 64, 48, 0.5, 0, 1},
		{"few definite pixels", 40, 30, 0.05, 0, 2},
		{"most definite", 50, 50, 0.9, 0, 3},
		{"leaning foreground", 33, 65, 0.4, 30, 4},
		{"leaning background", 65, 33, 0.4, -30, 5},
		{"no definite pixel", 20, 20, 0, 0, 6},
		{"every pixel definite", 20, 20, 1, 0, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(tc.seed, 9))
			n := tc.w * tc.h
			rgb := make([]byte, 3*n)
			for i := range rgb {
				// Blocks of colour with noise, so that links vary.
				rgb[i] = byte((i/3%tc.w/8+i/3/tc.w/8)*37%256) + byte(r.IntN(20))
			}
			l := contrastLinks(rgb, tc.w, tc.h, gamma)
			fixed := make([]byte, n)
			src, snk := make([]float64, n), make([]float64, n)
			fullSrc, fullSnk := make([]float64, n), make([]float64, n)
			for i := range n {
				src[i], snk[i] = 100*r.Float64()+tc.fgBias, 100*r.Float64()
				fullSrc[i], fullSnk[i] = src[i], snk[i]
				if r.Float64() < tc.fixed {
					if r.IntN(2) == 0 {
						fixed[i], fullSrc[i], fullSnk[i] = cutForeground, 9*gamma, 0
					} else {
						fixed[i], fullSrc[i], fullSnk[i] = cutBackground, 0, 9*gamma
					}
				}
			}
			got, want := make([]byte, n), make([]byte, n)
			if err := cutGrid(l, fixed, src, snk, got); err != nil {
				t.Fatal(err)
			}
			if err := cutGrid(l, make([]byte, n), fullSrc, fullSnk, want); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				diff := 0
				for i := range got {
					if got[i] != want[i] {
						diff++
					}
				}
				t.Fatalf("%d of %d pixels differ from the whole graph's cut", diff, n)
			}
			var free [2]int // free pixels of each label
			for i, f := range fixed {
				if f == cutFree {
					free[got[i]]++
				}
				if (f == cutForeground && got[i] != 1) || (f == cutBackground && got[i] != 0) {
					t.Fatalf("definite pixel %d changed its label", i)
				}
			}
			if tc.fixed < 1 && (free[0] == 0 || free[1] == 0) {
				t.Fatalf("the free pixels all took one label (%d background, %d foreground): the costs test nothing", free[0], free[1])
			}
		})
	}
}

// TestCutGridErrors checks that mismatched arrays are refused, not read
// out of bounds.
func TestCutGridErrors(t *testing.T) {
	l := contrastLinks(make([]byte, 3*16), 4, 4, 50)
	ok := func(n int) []float64 { return make([]float64, n) }
	if err := cutGrid(l, make([]byte, 15), ok(16), ok(16), make([]byte, 16)); err == nil {
		t.Error("a short fixed array was accepted")
	}
	if err := cutGrid(l, make([]byte, 16), ok(16), ok(15), make([]byte, 16)); err == nil {
		t.Error("a short cost array was accepted")
	}
}
