package mask

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// bitmapFromRows builds a Bitmap from rows of '0'/'1'.
func bitmapFromRows(rows ...string) *Bitmap {
	b := NewBitmap(len(rows[0]), len(rows))
	for y, r := range rows {
		for x, c := range r {
			if c == '1' {
				b.Pix[y*b.W+x] = 1
			}
		}
	}
	return b
}

func equalBitmaps(a, b *Bitmap) bool {
	if a.W != b.W || a.H != b.H || len(a.Pix) != len(b.Pix) {
		return false
	}
	for i := range a.Pix {
		if (a.Pix[i] != 0) != (b.Pix[i] != 0) {
			return false
		}
	}
	return true
}

// TestRLEKnownVectors checks vectors derived by hand from pycocotools'
// maskApi.c (rleEncode, rleToString, rleToBbox):
//
// Vector A, the 3x4 mask
//
//	0 1 1 0
//	0 1 1 0
//	0 0 0 0
//
// read down the columns is 000 110 110 000, so the counts are [3 2 1 2 4].
// rleToString writes counts 0..2 as they are ('0'+3, '0'+2, '0'+1 = "321")
// and from index 3 (i > 2) the difference to the count two places before:
// 2-2 = 0 -> '0', 4-1 = 3 -> '3'. String "32103".
//
// Vector B, 10x10, counts [0 40 10 2 48] (columns 0-3 full, rows 0-1 of
// column 5). 0 -> '0'. 40 = 0b01000|1<<5: first group 8 with the
// continuation bit, 8|32 = 40 -> '0'+40 = 'X', then 1 -> '1': "X1".
// 10 -> ':'. Index 3: 2-40 = -38; -38&31 = 26 and -38>>5 = -2; 26 has bit 4
// set and -2 != -1, so continue: 26|32 = 58 -> 'j'; then -2&31 = 30,
// -2>>5 = -1, bit 4 set and x == -1, so stop: 30 -> 'N'. Index 4:
// 48-10 = 38: 6|32 -> 'V', then 1 -> '1'. String "0X1:jNV1".
func TestRLEKnownVectors(t *testing.T) {
	tests := []struct {
		name   string
		mask   *Bitmap
		counts []uint32
		str    string
		area   int
		bbox   [4]int
	}{
		{
			name:   "A 3x4",
			mask:   bitmapFromRows("0110", "0110", "0000"),
			counts: []uint32{3, 2, 1, 2, 4},
			str:    "32103",
			area:   4,
			bbox:   [4]int{1, 0, 2, 2},
		},
		{
			name: "B 10x10 negative diff",
			mask: bitmapFromRows(
				"1111010000", "1111010000", "1111000000", "1111000000", "1111000000",
				"1111000000", "1111000000", "1111000000", "1111000000", "1111000000"),
			counts: []uint32{0, 40, 10, 2, 48},
			str:    "0X1:jNV1",
			area:   42,
			bbox:   [4]int{0, 0, 6, 10},
		},
		{ // cocoapi tests/test_cases.py testToBboxFullImage
			name:   "cocoapi full-image bbox",
			mask:   bitmapFromRows("01", "11"),
			counts: []uint32{1, 3},
			str:    "13",
			area:   3,
			bbox:   [4]int{0, 0, 2, 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := EncodeRLE(tc.mask)
			if err != nil {
				t.Fatal(err)
			}
			if r.Size != [2]int{tc.mask.H, tc.mask.W} {
				t.Errorf("size %v, want [h w] = [%d %d]", r.Size, tc.mask.H, tc.mask.W)
			}
			if !equalCounts(r.Counts, tc.counts) {
				t.Errorf("counts %v, want %v", r.Counts, tc.counts)
			}
			c := r.Compress()
			if c.Counts != tc.str {
				t.Errorf("compressed %q, want %q", c.Counts, tc.str)
			}
			if got := r.Area(); got != tc.area {
				t.Errorf("area %d, want %d", got, tc.area)
			}
			if got := r.BBox(); got != tc.bbox {
				t.Errorf("bbox %v, want %v", got, tc.bbox)
			}
			back, err := CompressedRLE{Size: r.Size, Counts: tc.str}.Decode()
			if err != nil {
				t.Fatal(err)
			}
			if !equalBitmaps(back, tc.mask) {
				t.Errorf("decoded mask differs from the original")
			}
		})
	}
}

func equalCounts(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRLEPycocotoolsStrings uses strings written by pycocotools itself.
func TestRLEPycocotoolsStrings(t *testing.T) {
	// cocoapi tests/test_cases.py testToBboxNonFullImage: mask[2:4, 3:6] = 1 in
	// a 10x10 mask has bbox [3 2 3 2].
	m := NewBitmap(10, 10)
	for y := 2; y < 4; y++ {
		for x := 3; x < 6; x++ {
			m.Pix[y*10+x] = 1
		}
	}
	r, err := EncodeRLE(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.BBox(); got != [4]int{3, 2, 3, 2} {
		t.Errorf("bbox %v, want [3 2 3 2]", got)
	}

	// A 50x70 mask that pycocotools' encode wrote (the example in
	// armengot/COCOtoolsFORK python/README.md). pycocotools' encoding is
	// canonical, so decoding and re-encoding must give the same string.
	const fork = `0g05b08J4M2N2NA^O1` + "`" + `0OCO=0E090H080IO68DH;>@C>a0_O_O` + "`" + `0j0OWOF<:CM72I24NL43JM92FN;1ENKO72L0LO91J0MO92INO0NO122OO0M031O000NO31OO11MO40N011MO41MO21L06OL021L06OL021L06OL021L060J040L060J040L060J040L060J040L060J040L060J040L060KO31L060KO31L06OL021L06OL021L06OL021MO41MO21MO40N100NO310O00M0310O00NO1220NO92IONO91KOMO72M0<1EO:2GN63KM34OLM73JF<;=1G_O_Ob0=AC` + "`" + `07EH=1IO71H090F0:1DO>1_O1b0>2N2N3L6H]O`
	fm, err := CompressedRLE{Size: [2]int{50, 70}, Counts: fork}.Decode()
	if err != nil {
		t.Fatalf("pycocotools string: %v", err)
	}
	fr, err := EncodeRLE(fm)
	if err != nil {
		t.Fatal(err)
	}
	if got := fr.Compress().Counts; got != fork {
		t.Errorf("re-encoded pycocotools string differs:\n got %s\nwant %s", got, fork)
	}

	// cocoapi tests/test_cases.py testZeroLeadingRLE: a string with three
	// leading zero counts (1350x1080). Its bbox must survive decode+encode.
	zl := CompressedRLE{Size: [2]int{1350, 1080}, Counts: `000lg0Zb01O00001O00001O001O00001O00001O001O00001O01O2N3M3M3M2N3M3N2M3M2N1O1O1O1O2N1O1O1O2N1O1O101N1O1O1O2N1O1O1O2N3M2N1O2N1O2O0O2N1O1O2N1O2N1O2N1O2N1O2N1O2O0O2N1O3M2N1O2N2N2N2N2N1O2N2N2N2N1O2N2N2N2N2N1N3N2N00O1O1O1O100000000000000O100000000000000001O0000001O00001O0O5L7I5K4L4L3M2N2N2N1O2m]OoXOm` + "`" + `0Sg0j^OVYOTa0lf0c^O]YO[a0ef0\^OdYOba0bg0N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N3M2M4M2N3M2N3M2N3M2N3M2N3M2N3M2N3M2N3M2M4M2N2N3M2M4M2N2N3M2M3N3M2N3M2M3N3M2N2N3L3N2N3M2N3L3N2N3M5J4M3M4L3M3L5L3M3M4L3L4\EXTOd6jo0K6J5K6I4M1O1O1O1N2O1O1O001N2O00001O0O101O000O2O00001N101N101N2N101N101N101N2O0O2O0O2O0O2O1N101N2N2O1N2O1N2O1N101N2O1N2O1N2O0O2O1N2N2O1N2O0O2O1N2O1N2N2N1N4M2N2M4M2N3L3N2N3L3N3L3N2N3L3N2N3L3M4L3M3M4L3M5K5K5K6J5K5K6J7I7I7Ibijn0`}
	zr, err := zl.Decompress()
	if err != nil {
		t.Fatalf("zero-leading RLE: %v", err)
	}
	if zr.Counts[0] != 0 || zr.Counts[1] != 0 || zr.Counts[2] != 0 {
		t.Errorf("first counts %v, want three zeros", zr.Counts[:3])
	}
	zm, err := zr.Decode()
	if err != nil {
		t.Fatal(err)
	}
	zr2, err := EncodeRLE(zm)
	if err != nil {
		t.Fatal(err)
	}
	if zr.BBox() != zr2.BBox() || zr.Area() != zr2.Area() {
		t.Errorf("bbox/area %v/%d before and %v/%d after decode+encode", zr.BBox(), zr.Area(), zr2.BBox(), zr2.Area())
	}
	if a := zm.Area(); a != zr.Area() {
		t.Errorf("decoded area %d, RLE area %d", a, zr.Area())
	}
	x0, y0, x1, y1, _ := zm.BBox()
	if got := zr.BBox(); got != [4]int{x0, y0, x1 - x0, y1 - y0} {
		t.Errorf("RLE bbox %v, bitmap bbox %v", got, [4]int{x0, y0, x1 - x0, y1 - y0})
	}
}

func TestRLERoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := [][2]int{{1, 1}, {1, 7}, {7, 1}, {3, 5}, {64, 48}, {200, 130}}
	for _, sz := range sizes {
		for _, fill := range []float64{0, 0.02, 0.5, 0.98, 1} {
			b := NewBitmap(sz[0], sz[1])
			for i := range b.Pix {
				if rng.Float64() < fill {
					b.Pix[i] = 1
				}
			}
			// Add a large block so that long runs (multi-character values)
			// and negative differences occur.
			if sz[0] > 20 && fill > 0 && fill < 1 {
				for y := 5; y < sz[1]-3; y++ {
					for x := 4; x < sz[0]/2; x++ {
						b.Pix[y*b.W+x] = 1
					}
				}
			}
			r, err := EncodeRLE(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("%v fill %v: %v", sz, fill, err)
			}
			back, err := r.Decode()
			if err != nil || !equalBitmaps(back, b) {
				t.Fatalf("%v fill %v: uncompressed round trip failed (%v)", sz, fill, err)
			}
			c := r.Compress()
			r2, err := c.Decompress()
			if err != nil || !equalCounts(r2.Counts, r.Counts) {
				t.Fatalf("%v fill %v: compressed round trip failed (%v)", sz, fill, err)
			}
			if r.Area() != b.Area() {
				t.Errorf("%v fill %v: area %d, bitmap %d", sz, fill, r.Area(), b.Area())
			}
			x0, y0, x1, y1, ok := b.BBox()
			want := [4]int{}
			if ok {
				want = [4]int{x0, y0, x1 - x0, y1 - y0}
			}
			if got := r.BBox(); got != want {
				t.Errorf("%v fill %v: bbox %v, want %v", sz, fill, got, want)
			}
		}
	}
}

func TestRLEJSON(t *testing.T) {
	r, _ := EncodeRLE(bitmapFromRows("0110", "0110", "0000"))
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"size":[3,4],"counts":[3,2,1,2,4]}`; string(got) != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
	got, _ = json.Marshal(r.Compress())
	if want := `{"size":[3,4],"counts":"32103"}`; string(got) != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
}

func TestRLEBadInput(t *testing.T) {
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"counts do not cover size", func() error {
			_, err := (&RLE{Size: [2]int{3, 4}, Counts: []uint32{3, 2}}).Decode()
			return err
		}, "sum to 5"},
		{"negative size", func() error {
			_, err := (&RLE{Size: [2]int{-1, 4}}).Decode()
			return err
		}, "negative"},
		{"bad character", func() error {
			_, err := CompressedRLE{Size: [2]int{3, 4}, Counts: "32 03"}.Decompress()
			return err
		}, "outside"},
		{"truncated", func() error {
			_, err := CompressedRLE{Size: [2]int{10, 10}, Counts: "0X"}.Decompress()
			return err
		}, "truncated"},
		{"too long value", func() error {
			_, err := CompressedRLE{Size: [2]int{10, 10}, Counts: strings.Repeat("o", 20) + "0"}.Decompress()
			return err
		}, "64 bits"},
		{"negative count", func() error {
			// counts 5, 5, 0 then a diff of -9 gives -4.
			_, err := CompressedRLE{Size: [2]int{10, 10}, Counts: "550G"}.Decompress()
			return err
		}, "out of range"},
		{"malformed bitmap", func() error {
			_, err := EncodeRLE(&Bitmap{W: 3, H: 3, Pix: make([]uint8, 4)})
			return err
		}, "holds 4 pixels"},
		{"nil bitmap", func() error {
			_, err := EncodeRLE(nil)
			return err
		}, "nil"},
		{ // cocoapi tests/test_cases.py testInvalidRLECounts (pycocotools raises ValueError)
			"cocoapi invalid counts", func() error {
				_, err := CompressedRLE{Size: [2]int{1024, 1024}, Counts: `jd` + "`" + `0=` + "`" + `o06J5L4M3L3N2N2N2N2N1O2N2N101N1O2O0O1O2N100O1O2N100O1O1O1O1O101N1O1O1O1O1O1O101N1O100O101O0O100000000000000001O00001O1O0O2O1N3N1N3N3L5Kh0XO6J4K5L5Id[o5N]dPJ7K4K4M3N2M3N2N1O2N100O2O0O1000O01000O101N1O1O2N2N2M3M3M4J7Inml5H[RSJ6L2N2N2N2O000000000000O2O1N2N2Mkm81SRG6L3L3N2O1N2N2O0O2O00001O0000000000O2O001N2O0O2N2N3M3L5JRjf6MPVYI8J4L3N3M2N1O2O1N101N1000000O10000001O000O101N101N1O2N2N2N3L4L7FWZ_50ne` + "`" + `J0000001O000000001O0000001O1O0N3M3N1O2N2N2O1N2O001N2` + "`" + `RO^O` + "`" + `k0c0[TOEak0;\\TOJbk07\\TOLck03[TO0dk01ZTO2dk0OYTO4gk0KXTO7gk0IXTO8ik0HUTO:kk0ETTO=lk0CRTO>Pl0@oSOb0Rl0\\OmSOe0Tl0[OjSOg0Ul0YOiSOi0Wl0XOgSOi0Yl0WOeSOk0[l0VOaSOn0kh0cNmYO`}.Decode()
				return err
			}, "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func BenchmarkRLEEncode1024(b *testing.B) {
	m := NewBitmap(1024, 1024)
	for y := 100; y < 900; y++ {
		for x := 200 + y%50; x < 800; x++ {
			m.Pix[y*1024+x] = 1
		}
	}
	b.ResetTimer()
	for b.Loop() {
		r, _ := EncodeRLE(m)
		_ = r.Compress()
	}
}
