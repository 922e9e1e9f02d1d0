package deaot

import "math"

// memFrame is one frame in an engine's memory: per layer keys, values and
// ID-values, the ID-branch state (to rewrite the ID-values when an object
// is removed) and the labels at one-hot resolution as slots.
type memFrame struct {
	index int // video frame index
	step  int // Propagate count when stored
	ref   bool

	k, v, id, idv []float32 // [NL][L][dim]
	slots         []uint8   // [oh*ow], 0 = background
}

// engine is one DeAOT engine: M identity slots and their memory.
type engine struct {
	ids     []uint16 // object id per slot; ids[0] unused, 0 = free
	freedAt []int64  // when each slot was last freed; 0 = never used
	long    []*memFrame
	short   *memFrame
	pending *memFrame // a prediction awaiting its memory write
	// lastMemStep is the step of the last long-term write.
	lastMemStep int

	// The long-term memory concatenated time-major ([T][NL][L][dim]), as
	// propagate takes it; rebuilt when the list changes.
	ltK, ltV, ltIDV []float32
	ltDirty         bool
}

func newEngine(slots int) *engine {
	return &engine{ids: make([]uint16, slots), freedAt: make([]int64, slots)}
}

// freeSlot picks a free slot: never-used slots first, then the one freed
// longest ago; -1 when the engine is full.
func (e *engine) freeSlot() int {
	best := -1
	for k := 1; k < len(e.ids); k++ {
		if e.ids[k] != 0 {
			continue
		}
		if best < 0 || e.freedAt[k] < e.freedAt[best] {
			best = k
		}
	}
	return best
}

func (e *engine) objectCount() int {
	n := 0
	for _, id := range e.ids[1:] {
		if id != 0 {
			n++
		}
	}
	return n
}

func (e *engine) appendLong(f *memFrame) {
	e.long = append(e.long, f)
	e.ltDirty = true
}

func (e *engine) removeLong(i int) {
	copy(e.long[i:], e.long[i+1:])
	e.long[len(e.long)-1] = nil
	e.long = e.long[:len(e.long)-1]
	e.ltDirty = true
}

// buildLong refreshes the concatenated long-term tensors.
func (e *engine) buildLong() {
	if !e.ltDirty && e.ltK != nil {
		return
	}
	e.ltK, e.ltV, e.ltIDV = e.ltK[:0], e.ltV[:0], e.ltIDV[:0]
	for _, f := range e.long {
		e.ltK = append(e.ltK, f.k...)
		e.ltV = append(e.ltV, f.v...)
		e.ltIDV = append(e.ltIDV, f.idv...)
	}
	// Keep the buffers from growing past what the list needs.
	if cap(e.ltK) > 2*len(e.ltK) {
		e.ltK = append([]float32(nil), e.ltK...)
		e.ltV = append([]float32(nil), e.ltV...)
		e.ltIDV = append([]float32(nil), e.ltIDV...)
	}
	e.ltDirty = false
}

func exp32(x float32) float32 { return float32(math.Exp(float64(x))) }
