package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestShippedFileDocumentsEveryDefault(t *testing.T) {
	c, err := Load(Source{File: "../configs/samtrack.yaml", Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("configs/samtrack.yaml differs from Default():\n%+v\n%+v", c, Default())
	}
	b, _ := os.ReadFile("../configs/samtrack.yaml")
	for _, k := range Keys() {
		name := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(string(b), name+":") {
			t.Errorf("configs/samtrack.yaml does not document %s", k)
		}
	}
}

func TestLayering(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "c.yaml")
	os.WriteFile(f, []byte("track:\n  sam_gap: 20\n  min_area: 50\nvideo:\n  start: 1.5s\n"), 0o644)
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Int("sam-gap", 10, "")
	if err := fs.Parse([]string{"--sam-gap", "7"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Source{
		File:    f,
		Environ: []string{"SAMTRACK_TRACK_MIN_AREA=99", "SAMTRACK_EVERYTHING_POINTS_PER_SIDE=16", "SAMTRACK_ORT_LIB=/x"},
		Flags:   map[string]*pflag.Flag{"track.sam_gap": fs.Lookup("sam-gap")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Track.SAMGap != 7 || c.Track.MinArea != 99 || c.Everything.PointsPerSide != 16 || c.Video.Start.Seconds() != 1.5 {
		t.Errorf("layering wrong: %+v", c)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, file string
		env        []string
		over       map[string]any
		want       string
	}{
		{"unknown file key", "track:\n  samgap: 3\n", nil, nil, "track.samgap"},
		{"unknown section", "bogus:\n  x: 1\n", nil, nil, "bogus.x"},
		{"bad int", "track:\n  sam_gap: many\n", nil, nil, `track.sam_gap = "many" (from config `},
		{"bad duration", "video:\n  start: soon\n", nil, nil, `video.start = "soon" (from config `},
		{"bad env values", "", []string{"SAMTRACK_TRACK_OVERLAY=maybe", "SAMTRACK_EVERYTHING_PRED_IOU_THRESH=high"}, nil,
			`everything.pred_iou_thresh = "high" (from environment variable SAMTRACK_EVERYTHING_PRED_IOU_THRESH): want a number`},
		{"bad env bool", "", []string{"SAMTRACK_TRACK_OVERLAY=maybe"}, nil, `track.overlay = "maybe" (from environment variable SAMTRACK_TRACK_OVERLAY): want true or false`},
		{"bad override", "", nil, map[string]any{"track.sam_gap": "x"}, `track.sam_gap = "x" (from option track.sam_gap): want a whole number`},
		{"zero sam gap", "track:\n  sam_gap: 0\n", nil, nil, "track.sam_gap"},
		{"negative sam gap env", "", []string{"SAMTRACK_TRACK_SAM_GAP=-2"}, nil, "track.sam_gap"},
		{"negative long-term gap", "track:\n  long_term_mem_gap: -1\n", nil, nil, "track.long_term_mem_gap"},
		{"unknown env", "", []string{"SAMTRACK_TRACK_SAMGAP=2"}, nil, "SAMTRACK_TRACK_SAMGAP"},
		{"threshold range", "everything:\n  pred_iou_thresh: 1.5\n", nil, nil, "everything.pred_iou_thresh"},
		{"mirror not a URL", "", []string{"SAMTRACK_MODELS_MIRROR=hf-mirror.com"}, nil, "models.mirror"},
		{"log level", "log:\n  level: loud\n", nil, nil, "log.level"},
		{"unknown override", "", nil, map[string]any{"track.nope": 1}, "track.nope"},
		{"half a model", "sam:\n  encoder: e.onnx\n", nil, nil, "sam.encoder"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := Source{Environ: tc.env, Overrides: tc.over}
			if src.Environ == nil {
				src.Environ = []string{}
			}
			if tc.file != "" {
				src.File = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
				os.WriteFile(src.File, []byte(tc.file), 0o644)
			}
			_, err := Load(src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(Source{File: "/nonexistent/samtrack.yaml", Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/samtrack.yaml") {
		t.Fatalf("got %v", err)
	}
}

// TestPredIoUThreshUnsetOrSet: unset leaves the model family's default to
// the caller (nil); a file, the environment or a job option sets it.
func TestPredIoUThreshUnsetOrSet(t *testing.T) {
	c, err := Load(Source{Environ: []string{}})
	if err != nil || c.Everything.PredIoUThresh != nil || c.Everything.UseM2M {
		t.Fatalf("default: %v %v %v", err, c.Everything.PredIoUThresh, c.Everything.UseM2M)
	}
	for _, src := range []Source{
		{Environ: []string{"SAMTRACK_EVERYTHING_PRED_IOU_THRESH=0.5", "SAMTRACK_EVERYTHING_USE_M2M=true"}},
		{Environ: []string{}, Overrides: map[string]any{"everything.pred_iou_thresh": 0.5, "everything.use_m2m": true}},
	} {
		c, err := Load(src)
		if err != nil {
			t.Fatal(err)
		}
		if p := c.Everything.PredIoUThresh; p == nil || *p != 0.5 || !c.Everything.UseM2M {
			t.Errorf("%+v: pred_iou_thresh %v, use_m2m %v", src, p, c.Everything.UseM2M)
		}
	}
	if _, err := Load(Source{Environ: []string{"SAMTRACK_EVERYTHING_PRED_IOU_THRESH=1.5"}}); err == nil || !strings.Contains(err.Error(), "everything.pred_iou_thresh") {
		t.Errorf("1.5 accepted or not named: %v", err)
	}
}
