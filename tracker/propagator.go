// Package tracker owns the tracking loop, the object table and its ids, the
// discovery of new objects, the memory policy, the Segmenter interface it
// asks for masks (implemented in package segment) and the Propagator
// interface that carries masks from frame to frame; implementations of
// Propagator live in subpackages (tracker/flow is the classical
// optical-flow one). The package itself uses no native code: frames and
// prompts are package media's plain values.
package tracker

import (
	"context"

	"samtrack/mask"
	"samtrack/media"
)

// Propagator carries every object's mask from the frames it has seen to the
// next frame, all objects in one pass.
type Propagator interface {
	// AddReference gives a frame whose labels are known (the first frame, a
	// user correction, or a new object's frame).
	AddReference(ctx context.Context, f media.Frame, labels *mask.LabelMap) error
	// Propagate predicts the labels of the next frame.
	Propagate(ctx context.Context, f media.Frame) (*mask.LabelMap, error)
	// Reset drops all memory. Close frees native resources.
	Reset()
	Close() error
}
