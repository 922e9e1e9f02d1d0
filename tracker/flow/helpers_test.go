package flow

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"gocv.io/x/gocv"

	"samtrack/eval"
	"samtrack/internal/testenv"
	"samtrack/mask"
	"samtrack/media"
)

// davisRoot is the shared DAVIS data, relative to this package's directory.
const davisRoot = "../../../shared/data/davis"

// davisDevRoot holds the six development sequences of DAVIS 2016.
const davisDevRoot = "../../../shared/data/davis-dev"

// sequence is a DAVIS sequence loaded into memory.
type sequence struct {
	name   string
	frames []media.Frame
	gt     []*mask.LabelMap
	files  []string // annotation file names, aligned with frames
}

// loadSequence reads the JPEG frames and palette PNG annotations of a DAVIS
// sequence below root; it skips the test when the data are missing.
func loadSequence(tb testing.TB, root, name string) *sequence {
	tb.Helper()
	jpgs, _ := filepath.Glob(filepath.Join(root, "JPEGImages/480p", name, "*.jpg"))
	if len(jpgs) == 0 {
		testenv.Missing(tb, "DAVIS sequence %s not found under %s: the shared data set is missing", name, root)
	}
	sort.Strings(jpgs)
	s := &sequence{name: name}
	for i, j := range jpgs {
		f, err := readFrame(j, i)
		if err != nil {
			tb.Fatal(err)
		}
		png := filepath.Base(j[:len(j)-len(filepath.Ext(j))]) + ".png"
		l, err := mask.ReadLabelPNGFile(filepath.Join(root, "Annotations/480p", name, png))
		if err != nil {
			tb.Fatal(err)
		}
		s.frames, s.gt, s.files = append(s.frames, f), append(s.gt, l), append(s.files, png)
	}
	return s
}

// readFrame decodes a JPEG into a packed RGB24 frame.
func readFrame(path string, index int) (media.Frame, error) {
	m := gocv.IMRead(path, gocv.IMReadColor)
	defer m.Close()
	if m.Empty() {
		return media.Frame{}, fmt.Errorf("decode %s: not a readable image", path)
	}
	rgb := gocv.NewMat()
	defer rgb.Close()
	gocv.CvtColor(m, &rgb, gocv.ColorBGRToRGB)
	return media.Frame{Index: index, Name: filepath.Base(path), Image: media.Image{W: rgb.Cols(), H: rgb.Rows(), RGB: append([]byte(nil), rgb.ToBytes()...)}}, nil
}

// writePredictions stores labels as DAVIS label PNGs in dir/<seq>/.
func writePredictions(tb testing.TB, dir string, s *sequence, pred []*mask.LabelMap) {
	tb.Helper()
	sd := filepath.Join(dir, s.name)
	if err := os.MkdirAll(sd, 0o755); err != nil {
		tb.Fatal(err)
	}
	for i, l := range pred {
		f, err := os.Create(filepath.Join(sd, s.files[i]))
		if err != nil {
			tb.Fatal(err)
		}
		if err := mask.WritePalettePNG(f, l); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
	}
}

// score holds the J and F means of one object over a sequence.
type score struct{ J, F float64 }

// quickScore is the in-memory J-Mean and F-Mean of object 1 over frames
// 1..n-2, with eval's metrics; the tuning harness uses it to avoid PNGs.
func quickScore(tb testing.TB, pred, gt []*mask.LabelMap) score {
	tb.Helper()
	var sj, sf float64
	n := 0
	for t := 1; t < len(gt)-1; t++ {
		p, g := pred[t].Object(1), gt[t].Object(1)
		j, err := eval.RegionJ(g, p)
		if err != nil {
			tb.Fatal(err)
		}
		f, err := eval.BoundaryF(g, p)
		if err != nil {
			tb.Fatal(err)
		}
		sj, sf, n = sj+j, sf+f, n+1
	}
	return score{sj / float64(n), sf / float64(n)}
}
