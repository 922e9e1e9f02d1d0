package flow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"samtrack/mask"
	"samtrack/media"
	"samtrack/tracker"
	"samtrack/tracker/flow"
)

var _ tracker.Propagator = (*flow.Propagator)(nil)

func solid(w, h int, v byte) media.Frame {
	rgb := make([]byte, w*h*3)
	for i := range rgb {
		rgb[i] = v + byte(i%7)
	}
	return media.Frame{Image: media.Image{W: w, H: h, RGB: rgb}}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts flow.Options
	}{
		{"scale above 1", flow.Options{FlowScale: 1.5}},
		{"negative scale", flow.Options{FlowScale: -0.5}},
		{"unknown preset", flow.Options{Preset: 7}},
		{"negative max objects", flow.Options{MaxObjects: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := flow.New(tc.opts)
			if err == nil {
				p.Close()
				t.Fatal("New accepted bad options")
			}
		})
	}
}

func TestBadInputIsAnError(t *testing.T) {
	ctx := context.Background()
	p, err := flow.New(flow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	good := solid(64, 48, 40)
	labels := mask.NewLabelMap(64, 48)
	labels.Pix[10*64+10] = 3
	if _, err := p.Propagate(ctx, good); err == nil {
		t.Error("Propagate before any reference succeeded")
	}
	for _, tc := range []struct {
		name   string
		f      media.Frame
		labels *mask.LabelMap
	}{
		{"nil labels", good, nil},
		{"labels of another size", good, mask.NewLabelMap(32, 48)},
		{"short RGB", media.Frame{Image: media.Image{W: 64, H: 48, RGB: make([]byte, 100)}}, labels},
		{"empty frame", media.Frame{}, labels},
		{"labels with a short Pix", good, &mask.LabelMap{W: 64, H: 48, Pix: make([]uint16, 5)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.AddReference(ctx, tc.f, tc.labels); err == nil {
				t.Error("AddReference accepted bad input")
			}
		})
	}
	if err := p.AddReference(ctx, good, labels); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Propagate(ctx, solid(32, 48, 40)); err == nil {
		t.Error("Propagate accepted a frame of another size")
	}
	if _, err := p.Propagate(ctx, media.Frame{Image: media.Image{W: 64, H: 48, RGB: make([]byte, 7)}}); err == nil {
		t.Error("Propagate accepted a short frame")
	}
	if err := p.AddReference(ctx, solid(32, 48, 40), mask.NewLabelMap(32, 48)); err == nil {
		t.Error("AddReference changed the frame size without Reset")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Propagate(cancelled, good); !errors.Is(err, context.Canceled) {
		t.Errorf("Propagate with a cancelled context: %v", err)
	}
	// The propagator still works after the errors.
	if _, err := p.Propagate(ctx, good); err != nil {
		t.Errorf("Propagate after rejected input: %v", err)
	}
}

func TestMaxObjects(t *testing.T) {
	p, err := flow.New(flow.Options{MaxObjects: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l := mask.NewLabelMap(64, 48)
	l.Pix[0], l.Pix[5], l.Pix[9] = 1, 2, 3
	if err := p.AddReference(context.Background(), solid(64, 48, 50), l); err == nil {
		t.Error("AddReference accepted 3 objects with MaxObjects 2")
	}
}

func TestResetAndClose(t *testing.T) {
	ctx := context.Background()
	p, err := flow.New(flow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := mask.NewLabelMap(64, 48)
	for y := 10; y < 30; y++ {
		for x := 10; x < 30; x++ {
			l.Pix[y*64+x] = 1
		}
	}
	if err := p.AddReference(ctx, solid(64, 48, 60), l); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Propagate(ctx, solid(64, 48, 60)); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if _, err := p.Propagate(ctx, solid(64, 48, 60)); err == nil {
		t.Error("Propagate after Reset succeeded without a new reference")
	}
	// After Reset the frame size may change.
	l2 := mask.NewLabelMap(40, 30)
	l2.Pix[15*40+20] = 2
	if err := p.AddReference(ctx, solid(40, 30, 90), l2); err != nil {
		t.Fatalf("AddReference of a new size after Reset: %v", err)
	}
	got, err := p.Propagate(ctx, solid(40, 30, 90))
	if err != nil {
		t.Fatal(err)
	}
	if got.W != 40 || got.H != 30 {
		t.Errorf("labels are %dx%d, want 40x30", got.W, got.H)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.Propagate(ctx, solid(40, 30, 90)); !errors.Is(err, flow.ErrClosed) {
		t.Errorf("Propagate after Close: %v, want ErrClosed", err)
	}
	if err := p.AddReference(ctx, solid(40, 30, 90), l2); !errors.Is(err, flow.ErrClosed) {
		t.Errorf("AddReference after Close: %v, want ErrClosed", err)
	}
	p.Reset() // harmless after Close
}

func TestEmptyReferenceGivesEmptyLabels(t *testing.T) {
	ctx := context.Background()
	p, err := flow.New(flow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.AddReference(ctx, solid(64, 48, 60), mask.NewLabelMap(64, 48)); err != nil {
		t.Fatal(err)
	}
	got, err := p.Propagate(ctx, solid(64, 48, 61))
	if err != nil {
		t.Fatal(err)
	}
	if ids := got.IDs(); len(ids) != 0 {
		t.Errorf("ids %v from an empty reference", ids)
	}
}

// TestTinyFrames checks that frames too small for optical flow are refused
// with an error by AddReference and that the smallest accepted size works.
func TestTinyFrames(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		w, h int
		ok   bool
	}{{1, 1, false}, {5, 4, false}, {64, 2, false}, {17, 15, false}, {16, 16, true}, {40, 16, true}, {31, 17, true}} {
		t.Run(fmt.Sprintf("%dx%d", tc.w, tc.h), func(t *testing.T) {
			p, err := flow.New(flow.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			l := mask.NewLabelMap(tc.w, tc.h)
			l.Pix[0] = 1
			l.Pix[len(l.Pix)-1] = 2
			err = p.AddReference(ctx, solid(tc.w, tc.h, 30), l)
			if !tc.ok {
				if err == nil {
					t.Fatal("AddReference accepted a frame too small for optical flow")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				got, err := p.Propagate(ctx, solid(tc.w, tc.h, byte(30+i)))
				if err != nil {
					t.Fatal(err)
				}
				if got.W != tc.w || got.H != tc.h || len(got.Pix) != tc.w*tc.h {
					t.Fatalf("labels %dx%d with %d pixels", got.W, got.H, len(got.Pix))
				}
			}
		})
	}
}
