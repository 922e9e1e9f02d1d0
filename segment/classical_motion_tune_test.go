//go:build tune && !nogocv

package segment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"samtrack/mask"
	"samtrack/media"
)

// motionCase is one prompt of TestClassicalMotionFrames: a frame, the
// next one, and the annotation (object id, or 0 for every object).
type motionCase struct {
	name        string
	frame, next string
	truth       string
	id          int
}

// motionCases are every tenth frame of the nine DAVIS sequences (frame 0
// left out: TestClassicalDAVISNine measures it) and, held out, the DAVIS
// 2017 frames of davis2017-partial, per object and all objects together.
func motionCases() (train, held []motionCase) {
	for _, s := range nineDAVIS() {
		n, _ := os.ReadDir(filepath.Join(s.root, "JPEGImages/480p", s.name))
		for f := 10; f+1 < len(n); f += 10 {
			train = append(train, motionCase{fmt.Sprintf("%s/%d", s.name, f),
				filepath.Join(s.root, "JPEGImages/480p", s.name, fmt.Sprintf("%05d.jpg", f)),
				filepath.Join(s.root, "JPEGImages/480p", s.name, fmt.Sprintf("%05d.jpg", f+1)),
				filepath.Join(s.root, "Annotations/480p", s.name, fmt.Sprintf("%05d.png", f)), 0})
		}
	}
	const p = "../../shared/data/davis2017-partial"
	for _, c := range []struct {
		seq string
		ids []int
	}{{"bear", []int{0}}, {"tennis", []int{0, 1, 2}}} {
		for _, id := range c.ids {
			held = append(held, motionCase{fmt.Sprintf("%s/id%d", c.seq, id),
				filepath.Join(p, "JPEGImages/480p", c.seq, "00000.jpg"), filepath.Join(p, "JPEGImages/480p", c.seq, "00001.jpg"),
				filepath.Join(p, "Annotations/480p", c.seq, "00000.png"), id})
		}
	}
	for _, id := range []int{0, 1, 2} {
		held = append(held, motionCase{fmt.Sprintf("bmx-trees/id%d", id),
			filepath.Join(p, "bmx-trees-frame0/JPEGImages/bmx-trees/00000.jpg"), filepath.Join(p, "bmx-trees-frame0/JPEGImages/bmx-trees/00001.jpg"),
			filepath.Join(p, "bmx-trees-frame0/Annotations/bmx-trees/00000.png"), id})
	}
	return train, held
}

// TestClassicalMotionFrames measures the classical segmenter's box+click
// prompt with and without the next frame (SegmentNext) beyond frame 0: on
// every tenth frame of the nine DAVIS sequences, and (HELD=1) on the
// DAVIS 2017 sequences of davis2017-partial, per object. Development
// harness: go test -tags tune -run TestClassicalMotionFrames -v ./segment
func TestClassicalMotionFrames(t *testing.T) {
	train, held := motionCases()
	set := train
	if os.Getenv("HELD") != "" {
		set = held
	}
	kind := "box+click"
	if k := os.Getenv("KIND"); k != "" {
		kind = k
	}
	c := newClassical(t)
	var still, moving float64
	for _, cs := range set {
		img, nx := readRGB(t, cs.frame), readRGB(t, cs.next)
		truth := readAnnotationID(t, cs.truth, cs.id)
		prompts, err := davisPrompts(truth)
		if err != nil {
			t.Fatalf("%s: %v", cs.name, err)
		}
		a, err := c.Segment(context.Background(), img, prompts[kind])
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.SegmentNext(context.Background(), img, &nx, prompts[kind])
		if err != nil {
			t.Fatal(err)
		}
		ia, ib := mask.IoU(a.Mask, truth), mask.IoU(b.Mask, truth)
		still += ia
		moving += ib
		t.Logf("| %s | %.3f | %.3f |", cs.name, ia, ib)
	}
	n := float64(len(set))
	t.Logf("| mean of %d | %.3f | %.3f |", len(set), still/n, moving/n)
}

// boxCandidates are the masks a box-only prompt gets from the frame alone
// and from the two motion runs (development: no selector uses them yet).
func boxCandidates(t *testing.T, c *Classical, img, next media.Image, p media.Prompt) []*mask.Bitmap {
	win := c.window(img.W, img.H, p)
	crop := cropBox{win.Min.X, win.Min.Y, win.Max.X, win.Max.Y}
	ci, cn, wp := cropImage(img, crop), cropImage(next, crop), shiftPrompt(p, win.Min)
	var out []*mask.Bitmap
	for _, nx := range []*media.Image{nil, &cn} {
		rs, err := c.segmentWindow(context.Background(), ci, nx, false, wp)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			m, err := tightComponents(pasteMask(r.Mask, win, img.W, img.H), p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

// TestBoxOnlyMotion measures box-only selectors over boxCandidates: the
// medoid (the mask most like the other two).
func TestBoxOnlyMotion(t *testing.T) {
	train, held := motionCases()
	set := train
	switch os.Getenv("SET") {
	case "held":
		set = held
	case "frame0":
		set = nil
		for _, s := range nineDAVIS() {
			set = append(set, motionCase{s.name, filepath.Join(s.root, "JPEGImages/480p", s.name, "00000.jpg"),
				filepath.Join(s.root, "JPEGImages/480p", s.name, "00001.jpg"), filepath.Join(s.root, "Annotations/480p", s.name, "00000.png"), 0})
		}
	}
	c := newClassical(t)
	sums := make([]float64, 5)
	for _, cs := range set {
		img, nx := readRGB(t, cs.frame), readRGB(t, cs.next)
		truth := readAnnotationID(t, cs.truth, cs.id)
		prompts, err := davisPrompts(truth)
		if err != nil {
			t.Fatal(err)
		}
		ms := boxCandidates(t, c, img, nx, prompts["box"])
		ious := make([]float64, len(ms))
		best, oracle := medoid(ms), 0.0
		for i, m := range ms {
			ious[i] = mask.IoU(m, truth)
			oracle = max(oracle, ious[i])
		}
		for i := range ious {
			sums[i] += ious[i]
		}
		sums[3] += ious[best]
		sums[4] += oracle
		t.Logf("| %s | %.3f | %.3f | %.3f | medoid %d %.3f |", cs.name, ious[0], ious[1], ious[2], best, ious[best])
	}
	n := float64(len(set))
	t.Logf("| mean of %d | alone %.3f | learned %.3f | fixed %.3f | medoid %.3f | oracle %.3f |", len(set), sums[0]/n, sums[1]/n, sums[2]/n, sums[3]/n, sums[4]/n)
}
