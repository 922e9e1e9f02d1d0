package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"samtrack/internal/testenv"
)

// TestBrowserNarrowWindowAndFailedJob (issue 9, items 4 and 7): in a
// 420-pixel-wide window the page fits, the Open button and the job
// table's state and actions are on screen (checked on a Chromium
// screenshot too), a failed job shows its reason, and the page says which
// folders the server allows.
func TestBrowserNarrowWindowAndFailedJob(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.Missing(t, "the browser test needs Debian's chromium at %s (./dev.sh setup installs it, or apt-get install chromium): %v", chromiumPath, err)
	}
	if _, err := os.Stat(catMP4); err != nil {
		testenv.Missing(t, "shared data missing: %v", err)
	}
	allow := filepath.Join(t.TempDir(), "videos")
	if err := os.Mkdir(allow, 0o755); err != nil {
		t.Fatal(err)
	}
	cat, err := os.ReadFile(catMP4)
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(allow, "cut-short.mp4")
	if err := os.WriteFile(trunc, cat[:len(cat)*4/10], 0o644); err != nil {
		t.Fatal(err)
	}
	base := startServer(t, allow, false)

	// A job that fails: its input ends early.
	body, _ := json.Marshal(map[string]any{"input": trunc, "prompts": map[string]any{"objects": []any{map[string]any{"id": 1, "points": [][]float64{{300, 170, 1}}}}},
		"options": map[string]any{"track.overlay": false}})
	res, err := http.Post(base+"/api/v1/jobs", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var job struct{ ID, State, Error string }
	json.NewDecoder(res.Body).Decode(&job)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create job: %s", res.Status)
	}
	for deadline := time.Now().Add(90 * time.Second); job.State != "failed"; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not fail within 90 s: %+v", job.ID, job)
		}
		r, err := http.Get(base + "/api/v1/jobs/" + job.ID)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(r.Body).Decode(&job)
		r.Body.Close()
	}

	ctx := newBrowser(t)
	b := &page{t: t, ctx: ctx}
	const width = 420
	b.do(chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/"))
	b.waitJS(`document.querySelector('#joblist td.state .reason') !== null && document.getElementById('allowdirs').textContent !== ''`,
		20*time.Second, "the failed job's reason and the allowed folders")
	reason := b.text("#joblist td.state .reason")
	t.Logf("failed job shows: %q", reason)
	if !strings.Contains(reason, "ended early") && !strings.Contains(reason, "truncated") {
		t.Errorf("the failed job's reason %q does not say the input ended early", reason)
	}
	if dirs := b.text("#allowdirs"); !strings.Contains(dirs, allow) {
		t.Errorf("the page does not name the allowed folder %s: %q", allow, dirs)
	}
	if w := b.jsInt(`document.documentElement.scrollWidth`); w > width {
		t.Errorf("the page is %d px wide in a %d px window", w, width)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, _, err := image.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if img.Bounds().Dx() != width {
		t.Fatalf("screenshot is %d px wide, want %d", img.Bounds().Dx(), width)
	}
	for _, sel := range []string{"#open", "#joblist td.state", "#joblist td.actions button"} {
		// The element's box must lie inside the window, scrolled into view,
		// and the screenshot must show something there (not one flat colour).
		b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).scrollIntoView({block: 'center'})`, sel)))
		var r struct{ Left, Top, Right, Bottom float64 }
		rect := b.js(fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return JSON.stringify({left: r.left, top: r.top, right: r.right, bottom: r.bottom}); })()`, sel))
		json.Unmarshal([]byte(fmt.Sprint(rect)), &r)
		if r.Right-r.Left < 4 || r.Left < 0 || r.Right > width {
			t.Errorf("%s is at x %.0f..%.0f, not inside the %d px window", sel, r.Left, r.Right, width)
			continue
		}
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := image.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		if n := distinctColours(img, image.Rect(int(r.Left), int(r.Top), int(r.Right), int(r.Bottom))); n < 3 {
			t.Errorf("%s: the screenshot shows %d colour(s) in its box %v: not visible", sel, n, r)
		}
	}
	if dst := os.Getenv("WEB_NARROW_SCREENSHOT"); dst != "" {
		os.WriteFile(dst, shot, 0o644)
	}

	// The failed job's retry button queues it again: it runs, and fails
	// again at the same place (its input is still cut short), having
	// been retried once.
	b.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#joblist td.actions button')].find((x) => x.textContent === 'retry').click()`))
	var again struct {
		State   string
		Retries int
	}
	for deadline := time.Now().Add(90 * time.Second); again.Retries != 1 || again.State != "failed"; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the retry button the job is %+v, want failed again with 1 retry", again)
		}
		r, err := http.Get(base + "/api/v1/jobs/" + job.ID)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(r.Body).Decode(&again)
		r.Body.Close()
	}
}

// distinctColours counts the colours in a region of an image (up to 16).
func distinctColours(img image.Image, r image.Rectangle) int {
	seen := map[[3]uint32]bool{}
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y && len(seen) < 16; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c0, c1, c2, _ := img.At(x, y).RGBA()
			seen[[3]uint32{c0 >> 8, c1 >> 8, c2 >> 8}] = true
		}
	}
	return len(seen)
}
