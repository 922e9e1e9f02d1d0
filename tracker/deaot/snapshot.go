package deaot

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
)

// snapshotMagic starts every snapshot.
const snapshotMagic = "samtrack-deaot-snapshot/1"

// snap is the gob-encoded memory state. Float data travel as
// little-endian bytes, which gob copies as blobs.
type snap struct {
	Magic string
	Model snapModel
	Step  int
	// Referenced is true once AddReference ran.
	Referenced bool
	FreeSeq    int64
	Engines    []snapEngine
}

// snapModel pins the model sizes the state was made with.
type snapModel struct {
	Name                                    string
	Slots, Layers, Tokens, OneHotH, OneHotW int
	KeyDim, ValueDim, IDDim, IDValueDim     int
}

type snapEngine struct {
	IDs         []uint16
	FreedAt     []int64
	LastMemStep int
	Frames      []snapFrame
	Long        []int // indices into Frames
	Short       int   // -1 for none
	Pending     int   // -1 for none
	Intro       []int // per slot: the object's first reference, index into Frames (-1 none)
}

type snapFrame struct {
	Index, Step   int
	Ref           bool
	K, V, ID, IDV []byte
	HasIDV        bool
	Slots         []uint8
}

func (p *Propagator) snapModel() snapModel {
	m := p.man
	return snapModel{Name: m.Name, Slots: m.Slots, Layers: m.Layers, Tokens: p.L,
		OneHotH: m.OneHot.Height, OneHotW: m.OneHot.Width,
		KeyDim: m.KeyDim, ValueDim: m.ValueDim, IDDim: m.IDDim, IDValueDim: m.IDValueDim}
}

// Snapshot serialises the memory state (ID bank, every engine's memory and
// pending prediction, the step counter) so that Restore, on a propagator
// opened from the same model, continues exactly where this one is. Use it
// to resume a stream after a crash.
func (p *Propagator) Snapshot() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	s := snap{Magic: snapshotMagic, Model: p.snapModel(), Step: p.st.step,
		Referenced: p.st.referenced, FreeSeq: p.st.freeSeq}
	for _, e := range p.st.engines {
		se := snapEngine{IDs: e.ids, FreedAt: e.freedAt, LastMemStep: e.lastMemStep, Short: -1, Pending: -1}
		index := map[*memFrame]int{}
		add := func(f *memFrame) int {
			if f == nil {
				return -1
			}
			if i, ok := index[f]; ok {
				return i
			}
			index[f] = len(se.Frames)
			se.Frames = append(se.Frames, snapFrame{Index: f.index, Step: f.step, Ref: f.ref,
				K: f32bytes(f.k), V: f32bytes(f.v), ID: f32bytes(f.id), IDV: f32bytes(f.idv),
				HasIDV: f.idv != nil, Slots: f.slots})
			return index[f]
		}
		for _, f := range e.long {
			se.Long = append(se.Long, add(f))
		}
		se.Short = add(e.short)
		se.Pending = add(e.pending)
		se.Intro = make([]int, len(e.ids))
		for k := range se.Intro {
			se.Intro[k] = -1
		}
		for _, o := range p.st.objects {
			if o.eng == e {
				se.Intro[o.slot] = add(o.intro)
			}
		}
		s.Engines = append(s.Engines, se)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&s); err != nil {
		return nil, fmt.Errorf("snapshot deaot memory: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore replaces the memory state with a Snapshot taken from a
// propagator with the same model. On error the current state is kept.
func (p *Propagator) Restore(b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	st, err := p.decodeSnapshot(b)
	if err != nil {
		return fmt.Errorf("restore deaot memory: %w", err)
	}
	p.st = *st
	p.cache = nil
	p.rebuildIDTab()
	return nil
}

func (p *Propagator) decodeSnapshot(b []byte) (st *state, err error) {
	var s snap
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		return nil, fmt.Errorf("not a deaot snapshot: %w", err)
	}
	if s.Magic != snapshotMagic {
		return nil, fmt.Errorf("not a deaot snapshot (magic %q)", s.Magic)
	}
	if s.Model != p.snapModel() {
		return nil, fmt.Errorf("snapshot was taken with model %+v, this propagator has %+v", s.Model, p.snapModel())
	}
	st = &state{step: s.Step, referenced: s.Referenced, freeSeq: s.FreeSeq, objects: map[uint16]*object{}}
	if s.Step < 0 {
		return nil, errors.New("negative step")
	}
	for ei, se := range s.Engines {
		e, err := p.decodeEngine(se, st)
		if err != nil {
			return nil, fmt.Errorf("engine %d: %w", ei, err)
		}
		st.engines = append(st.engines, e)
	}
	return st, nil
}

// decodeEngine rebuilds one engine's memory and registers its objects in st.
func (p *Propagator) decodeEngine(se snapEngine, st *state) (*engine, error) {
	if len(se.IDs) != p.S || len(se.FreedAt) != p.S || len(se.Intro) != p.S {
		return nil, fmt.Errorf("%d slots, want %d", len(se.IDs), p.S)
	}
	e := &engine{ids: append([]uint16(nil), se.IDs...), freedAt: append([]int64(nil), se.FreedAt...),
		lastMemStep: se.LastMemStep, ltDirty: true}
	frames := make([]*memFrame, len(se.Frames))
	for i, sf := range se.Frames {
		f, err := p.decodeMemFrame(sf)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		frames[i] = f
	}
	get := func(i int, what string, needIDV bool) (*memFrame, error) {
		if i < 0 || i >= len(frames) {
			return nil, fmt.Errorf("%s frame %d out of range", what, i)
		}
		if needIDV && frames[i].idv == nil {
			return nil, fmt.Errorf("%s frame %d has no ID-values", what, i)
		}
		return frames[i], nil
	}
	if err := linkMemory(e, se, get); err != nil {
		return nil, err
	}
	for k := 1; k < p.S; k++ {
		id := e.ids[k]
		if id == 0 {
			continue
		}
		if _, dup := st.objects[id]; dup {
			return nil, fmt.Errorf("object %d held twice", id)
		}
		o := &object{eng: e, slot: k}
		if se.Intro[k] >= 0 {
			var err error
			if o.intro, err = get(se.Intro[k], "first reference", false); err != nil {
				return nil, err
			}
		}
		st.objects[id] = o
	}
	if e.ids[0] != 0 {
		return nil, fmt.Errorf("slot 0 (background) holds object %d", e.ids[0])
	}
	return e, nil
}

// linkMemory points the engine's long-term, short-term and pending memory
// at its decoded frames.
func linkMemory(e *engine, se snapEngine, get func(i int, what string, needIDV bool) (*memFrame, error)) (err error) {
	if len(se.Long) == 0 {
		return errors.New("no long-term memory")
	}
	for _, i := range se.Long {
		f, err := get(i, "long-term", true)
		if err != nil {
			return err
		}
		e.long = append(e.long, f)
	}
	if e.short, err = get(se.Short, "short-term", true); err != nil {
		return err
	}
	if se.Pending >= 0 {
		if e.pending, err = get(se.Pending, "pending", false); err != nil {
			return err
		}
	}
	return nil
}

// decodeMemFrame checks one memory frame's sizes against the model.
func (p *Propagator) decodeMemFrame(sf snapFrame) (*memFrame, error) {
	m := p.man
	NL, L := p.NL, p.L
	f := &memFrame{index: sf.Index, step: sf.Step, ref: sf.Ref, slots: append([]uint8(nil), sf.Slots...)}
	var ok bool
	if f.k, ok = bytesF32(sf.K, NL*L*m.KeyDim); !ok {
		return nil, fmt.Errorf("keys have %d bytes", len(sf.K))
	}
	if f.v, ok = bytesF32(sf.V, NL*L*m.ValueDim); !ok {
		return nil, fmt.Errorf("values have %d bytes", len(sf.V))
	}
	if f.id, ok = bytesF32(sf.ID, NL*L*m.IDDim); !ok {
		return nil, fmt.Errorf("ID state has %d bytes", len(sf.ID))
	}
	if sf.HasIDV {
		if f.idv, ok = bytesF32(sf.IDV, NL*L*m.IDValueDim); !ok {
			return nil, fmt.Errorf("ID-values have %d bytes", len(sf.IDV))
		}
	}
	if ohw := m.OneHot.Height * m.OneHot.Width; len(f.slots) != ohw {
		return nil, fmt.Errorf("%d label cells, want %d", len(f.slots), ohw)
	}
	for _, k := range f.slots {
		if int(k) >= p.S {
			return nil, fmt.Errorf("slot %d out of range", k)
		}
	}
	return f, nil
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func bytesF32(b []byte, n int) ([]float32, bool) {
	if len(b) != 4*n {
		return nil, false
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, true
}
