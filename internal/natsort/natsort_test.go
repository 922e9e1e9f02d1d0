package natsort

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestSort(t *testing.T) {
	cases := []struct{ name, want string }{
		{"ffmpeg %d", "1.jpg 2.jpg 3.jpg 9.jpg 10.jpg 11.jpg 100.jpg"},
		{"zero padded (DAVIS)", "00000.jpg 00001.jpg 00009.jpg 00010.jpg 00100.jpg"},
		{"prefix", "frame1.png frame2.png frame10.png frame_1.png"},
		{"two numbers", "cam1_2.jpg cam1_10.jpg cam2_1.jpg cam10_1.jpg"},
		{"leading zeros tie", "01.jpg 1.jpg 002.jpg 2.jpg"},
		{"letters", "a.jpg b.jpg b1.jpg ba.jpg"},
		{"longer than int64", "99999999999999999999.jpg 100000000000000000000.jpg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := strings.Fields(c.want)
			for seed := uint64(0); seed < 5; seed++ {
				got := slices.Clone(want)
				rand.New(rand.NewPCG(seed, 1)).Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
				Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("got %v, want %v", got, want)
				}
			}
		})
	}
}

// TestTotalOrder: Compare is antisymmetric and zero only for equal names.
func TestTotalOrder(t *testing.T) {
	names := []string{"", "0", "00", "1", "01", "a", "a0", "a00", "a1", "1a", "10", "9", "x9y", "x10y", "x09y"}
	for _, a := range names {
		for _, b := range names {
			ab, ba := Compare(a, b), Compare(b, a)
			if ab != -ba || (ab == 0) != (a == b) {
				t.Errorf("Compare(%q, %q) = %d, Compare(%q, %q) = %d", a, b, ab, b, a, ba)
			}
		}
	}
}
