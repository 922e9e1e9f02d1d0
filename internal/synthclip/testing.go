package synthclip

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"samtrack/mask"
)

// Tool finds a command that scripts/setup.sh installs (ffmpeg, ffprobe).
// Without it the test skips, or fails under CI (CI=true), where nothing may
// be skipped silently.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s not installed (required under CI=true): run scripts/setup.sh", name)
		}
		tb.Skipf("%s not installed: run scripts/setup.sh", name)
	}
	return p
}

// FirstLabels is the square's frame-0 mask as a DAVIS palette PNG (object
// id 1): the prompt a tracking run starts from.
func (c Clip) FirstLabels() ([]byte, error) {
	l := mask.NewLabelMap(c.W, c.H)
	for i, v := range c.Truth(0).Pix {
		l.Pix[i] = uint16(v)
	}
	var b bytes.Buffer
	if err := mask.WritePalettePNG(&b, l); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
