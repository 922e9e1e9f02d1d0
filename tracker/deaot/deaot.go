// Package deaot is samtrack's learned mask propagator: a DeAOT-style model
// (Yang & Yang, NeurIPS 2022) exported to the ONNX contract of
// docs/propagator.md and run through samtrack/ort. It owns the propagator
// directory's four ONNX sessions (encoder, reference, propagate,
// memory_write), the ID bank that maps object ids (any uint16) to an engine
// and one of its M identity slots, and every engine's memory: a capped
// long-term list (reference frames plus one frame every LongTermMemGap
// frames; eviction drops plain frames first and never an object's first
// reference) and the previous frame as short-term memory. One encoder run
// per frame is shared by all engines; their logits are merged by soft
// aggregation, resized to the frame and turned into a mask.LabelMap. It
// implements tracker.Propagator.
package deaot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"path/filepath"
	"sync"

	"samtrack/mask"
	"samtrack/media"
	"samtrack/ort"
	"samtrack/tracker/deaot/sidecar"
)

// Options tunes a Propagator. The zero value uses the defaults.
type Options struct {
	// LongTermMemGap is the number of propagated frames between two
	// long-term memory entries; 0 means the model's own (the sidecar's
	// long_term_mem_gap: aot-benchmark's TEST_LONG_TERM_MEM_GAP, 9999 for
	// DeAOT-T/S/B, 5 for DeAOT-L and R50-DeAOT-L), or 5 when the sidecar
	// has none.
	LongTermMemGap int
	// MaxLongTerm caps the long-term frames of each engine; 0 means 16.
	// Every object's first reference frame is kept while the object lives
	// as long as MaxLongTerm ≥ slots+2 (12 for DeAOT).
	MaxLongTerm int
	// Threads is ONNX Runtime's intra-op thread count per session; 0 means
	// every CPU.
	Threads int
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxLongTerm == 0 {
		o.MaxLongTerm = 16
	}
	if o.LongTermMemGap < 0 {
		return o, fmt.Errorf("long-term memory gap %d: want at least 1 frame, or 0 for the model's own", o.LongTermMemGap)
	}
	if o.MaxLongTerm < 1 {
		return o, fmt.Errorf("max long-term %d: want at least 1 frame", o.MaxLongTerm)
	}
	if o.Threads < 0 {
		return o, fmt.Errorf("threads %d: want 0 (all CPUs) or more", o.Threads)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// castagnoli is the CRC table that fingerprints frames for the encoder
// cache (read-only after init).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("deaot propagator is closed")

// Propagator tracks every object of a video with a DeAOT-style ONNX model.
// Its methods are safe for concurrent use but run one at a time.
type Propagator struct {
	mu     sync.Mutex
	man    *sidecar.Manifest
	dir    string
	opts   Options
	enc    *ort.Session
	ref    *ort.Session
	prop   *ort.Session
	write  *ort.Session
	closed bool

	// sizes from the manifest
	L, NL, S int

	st      state
	cache   *encoding
	counts  counters
	warned  bool
	imgMaps struct {
		fw, fh int
		x, y   axisMap
	}
	// idTab maps an object id to engine<<8|slot, -1 when unknown.
	idTab []int32
	// sample maps one-hot cells to frame pixels for the last frame size.
	sample struct {
		fw, fh int
		idx    []int32
	}
	// onehotBuf is reused for every one-hot input (ONNX Runtime reads it
	// only during Run).
	onehotBuf []float32
	// outShapes are the output shapes the sidecar fixes, per graph,
	// checked after every run (graphs may declare dynamic axes).
	outShapes struct{ enc, ref, prop, write map[string][]int64 }
}

// state is everything Snapshot saves.
type state struct {
	step       int
	referenced bool
	freeSeq    int64
	engines    []*engine
	objects    map[uint16]*object
}

type object struct {
	eng   *engine
	slot  int
	intro *memFrame // the object's first reference frame
}

type counters struct {
	encoder, reference, propagate, memoryWrite int
}

// encoding is the encoder's output for one frame, shared by all engines.
type encoding struct {
	index, w, h int
	sum         uint32
	outs        map[string]ort.Tensor
}

// Open loads the propagator at path: a directory with propagator.json and
// the four graphs it names (or that sidecar, or any file in the directory).
// It checks every graph's inputs and outputs against the sidecar.
func Open(rt *ort.Runtime, path string, opts Options) (*Propagator, error) {
	if rt == nil {
		return nil, errors.New("open deaot propagator: nil ONNX runtime; open one with ort.Open")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open deaot propagator: %w", err)
	}
	dir, err := resolveDir(path)
	if err != nil {
		return nil, err
	}
	man, err := sidecar.Load(dir)
	if err != nil {
		return nil, err
	}
	if o.LongTermMemGap == 0 {
		o.LongTermMemGap = cmp.Or(man.LongTermMemGap, 5)
	}
	p := &Propagator{man: man, dir: dir, opts: o, L: man.TokenCount(), NL: man.Layers, S: man.Slots + 1}
	p.st.objects = map[uint16]*object{}
	p.idTab = make([]int32, 1<<16)
	for i := range p.idTab {
		p.idTab[i] = -1
	}
	// ONNX Runtime's MatMulAddFusion (MatMul and Add into one Gemm) moves
	// the logits further from PyTorch's than any other optimisation: on
	// DeAOT-B with seeded random weights, whose 3 layers amplify rounding
	// from frame to frame, labels equal to aot-benchmark's engine at frame 7
	// rose from 98.652 % to 99.591 % without it, at no measurable cost
	// (docs/BENCHMARKS.md).
	so := ort.Options{IntraOpThreads: o.Threads, DisableOptimizers: []string{"MatMulAddFusion"}}
	for _, s := range []struct {
		dst  **ort.Session
		file string
		what string
	}{
		{&p.enc, man.Files.Encoder, "encoder"},
		{&p.ref, man.Files.Reference, "reference"},
		{&p.prop, man.Files.Propagate, "propagate"},
		{&p.write, man.Files.MemoryWrite, "memory_write"},
	} {
		sess, err := rt.NewSession(filepath.Join(dir, s.file), so)
		if err != nil {
			p.closeSessions()
			return nil, fmt.Errorf("open deaot %s graph: %w", s.what, err)
		}
		*s.dst = sess
	}
	if err := p.checkGraphs(); err != nil {
		p.closeSessions()
		return nil, fmt.Errorf("propagator %s does not follow the contract of docs/propagator.md: %w", dir, err)
	}
	if o.MaxLongTerm < man.Slots+2 {
		o.Logger.Warn("deaot: max long-term is below slots+2; first reference frames may be evicted",
			"max_long_term", o.MaxLongTerm, "slots", man.Slots)
	}
	return p, nil
}

// checkGraphs compares the sessions with the manifest.
func (p *Propagator) checkGraphs() error {
	m := p.man
	L, NL, S := int64(p.L), int64(p.NL), int64(p.S)
	kd, vd, idd, ivd := int64(m.KeyDim), int64(m.ValueDim), int64(m.IDDim), int64(m.IDValueDim)
	emb := []int64{L, int64(m.EmbedDim)}
	onehot := []int64{1, S, int64(m.OneHot.Height), int64(m.OneHot.Width)}
	cur := []spec{{nCurK, []int64{NL, L, kd}}, {nCurV, []int64{NL, L, vd}}, {nCurID, []int64{NL, L, idd}}}
	curAllowed := map[string][]int64{}
	for _, c := range cur {
		curAllowed[c.name] = c.shape
	}
	var errs []error
	// encoder
	errs = append(errs, checkIO("encoder", "input", p.enc.Inputs(),
		[]spec{{nImage, nil}}, map[string][]int64{nImage: {1, 3, int64(m.Image.Height), int64(m.Image.Width)}}))
	encOut := map[string][]int64{nEmb: emb}
	for _, o := range p.enc.Outputs() {
		if _, ok := encOut[o.Name]; !ok {
			encOut[o.Name] = nil // skip features, passed on by name
		}
	}
	errs = append(errs, checkIO("encoder", "output", p.enc.Outputs(), []spec{{nEmb, emb}}, encOut))
	// reference: a graph that does not need the labels (DeAOT-T: its one
	// layer's outputs do not depend on them) does not declare onehot.
	refIn := map[string][]int64{nOneHot: onehot}
	for k, v := range encOut {
		refIn[k] = v
	}
	errs = append(errs, checkIO("reference", "input", p.ref.Inputs(), nil, refIn))
	errs = append(errs, checkIO("reference", "output", p.ref.Outputs(), cur, curAllowed))
	// propagate
	propIn := map[string][]int64{
		nLtK: {-1, NL, L, kd}, nLtV: {-1, NL, L, vd}, nLtIDV: {-1, NL, L, ivd},
		nStK: {NL, L, kd}, nStV: {NL, L, vd}, nStIDV: {NL, L, ivd},
	}
	for k, v := range encOut {
		propIn[k] = v
	}
	logits := []int64{1, S, int64(m.Logits.Height), int64(m.Logits.Width)}
	propOut := map[string][]int64{nLogits: logits}
	for k, v := range curAllowed {
		propOut[k] = v
	}
	errs = append(errs, checkIO("propagate", "input", p.prop.Inputs(), []spec{{nLtK, nil}, {nLtIDV, nil}}, propIn))
	errs = append(errs, checkIO("propagate", "output", p.prop.Outputs(), append([]spec{{nLogits, logits}}, cur...), propOut))
	// memory_write
	errs = append(errs, checkIO("memory_write", "input", p.write.Inputs(), []spec{{nOneHot, onehot}},
		map[string][]int64{nOneHot: onehot, nCurID: {NL, L, idd}}))
	errs = append(errs, checkIO("memory_write", "output", p.write.Outputs(), []spec{{nIDV, []int64{NL, L, ivd}}},
		map[string][]int64{nIDV: {NL, L, ivd}}))
	p.outShapes.enc = map[string][]int64{nEmb: emb}
	p.outShapes.ref = curAllowed
	p.outShapes.prop = propOut
	p.outShapes.write = map[string][]int64{nIDV: {NL, L, ivd}}
	return errors.Join(errs...)
}

// Manifest returns a copy of the propagator's sidecar.
func (p *Propagator) Manifest() sidecar.Manifest { return *p.man }

func (p *Propagator) closeSessions() error {
	var errs []error
	for _, s := range []**ort.Session{&p.enc, &p.ref, &p.prop, &p.write} {
		if *s != nil {
			errs = append(errs, (*s).Close())
			*s = nil
		}
	}
	return errors.Join(errs...)
}

// Close frees the four ONNX Runtime sessions and all memory. It is safe to
// call more than once.
func (p *Propagator) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.resetLocked()
	if err := p.closeSessions(); err != nil {
		return fmt.Errorf("close deaot propagator: %w", err)
	}
	return nil
}

// Reset drops every object and all memory; the sessions stay open.
func (p *Propagator) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetLocked()
}

func (p *Propagator) resetLocked() {
	p.st = state{objects: map[uint16]*object{}}
	p.cache = nil
	p.rebuildIDTab()
}

// rebuildIDTab refreshes idTab from the objects.
func (p *Propagator) rebuildIDTab() {
	for i := range p.idTab {
		p.idTab[i] = -1
	}
	for id, o := range p.st.objects {
		for ei, e := range p.st.engines {
			if e == o.eng {
				p.idTab[id] = int32(ei<<8 | o.slot)
			}
		}
	}
}

// AddReference gives a frame whose labels are known. The label map is the
// complete truth for that frame: ids seen for the first time get a free
// slot (a new engine when every slot is taken), ids already tracked keep
// theirs, and tracked ids absent from the map are removed: their slot is
// freed and their identity is erased from every stored memory frame. The
// frame becomes a reference entry of every engine's long-term memory and
// their short-term memory. If the previous call was Propagate on the same
// frame index, that prediction is discarded instead of being written to
// memory (SAM-Track's "propagate without memory update" on reference frames).
func (p *Propagator) AddReference(ctx context.Context, f media.Frame, labels *mask.LabelMap) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if !validFrame(f) {
		return fmt.Errorf("add reference frame %d: bad frame %dx%d with %d bytes (want W*H*3 packed RGB)", f.Index, f.W, f.H, len(f.RGB))
	}
	if !validLabels(labels, f) {
		return fmt.Errorf("add reference frame %d: the label map must be %dx%d like the frame", f.Index, f.W, f.H)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Pending predictions: drop the one for this very frame, commit others.
	for _, e := range p.st.engines {
		if e.pending != nil && e.pending.index == f.Index {
			e.pending = nil
		}
		if err := p.commit(e); err != nil {
			return fmt.Errorf("add reference frame %d: %w", f.Index, err)
		}
	}
	present := make([]bool, 1<<16)
	for _, v := range labels.Pix {
		present[v] = true
	}
	if err := p.removeAbsent(present); err != nil {
		return fmt.Errorf("add reference frame %d: erase removed objects: %w", f.Index, err)
	}
	added := p.assignNew(present)
	p.dropEmptyEngines()
	p.rebuildIDTab()
	p.st.referenced = true
	if len(p.st.engines) == 0 {
		return nil
	}
	return p.writeReference(ctx, f, labels, added)
}

// removeAbsent frees the slots of the tracked objects that present (by id)
// no longer holds and erases them from the memory of their engines.
func (p *Propagator) removeAbsent(present []bool) error {
	removed := map[*engine][]int{}
	for id, o := range p.st.objects {
		if !present[id] {
			o.eng.ids[o.slot] = 0
			p.st.freeSeq++
			o.eng.freedAt[o.slot] = p.st.freeSeq
			removed[o.eng] = append(removed[o.eng], o.slot)
			delete(p.st.objects, id)
		}
	}
	for e, slots := range removed {
		if err := p.scrub(e, slots); err != nil {
			return err
		}
	}
	return nil
}

// assignNew gives each id present but not yet tracked the first free slot
// of an engine, or a new engine when every slot is taken, and returns those
// ids in increasing order.
func (p *Propagator) assignNew(present []bool) []uint16 {
	var added []uint16
	for id := 1; id < len(present); id++ {
		if !present[id] {
			continue
		}
		if _, ok := p.st.objects[uint16(id)]; ok {
			continue
		}
		var eng *engine
		slot := -1
		for _, e := range p.st.engines {
			if s := e.freeSlot(); s > 0 {
				eng, slot = e, s
				break
			}
		}
		if eng == nil {
			eng = newEngine(p.S)
			p.st.engines = append(p.st.engines, eng)
			slot = eng.freeSlot()
		}
		eng.ids[slot] = uint16(id)
		p.st.objects[uint16(id)] = &object{eng: eng, slot: slot}
		added = append(added, uint16(id))
	}
	return added
}

// dropEmptyEngines removes the engines left without objects, with their
// memory.
func (p *Propagator) dropEmptyEngines() {
	kept := p.st.engines[:0]
	for _, e := range p.st.engines {
		if e.objectCount() > 0 {
			kept = append(kept, e)
		}
	}
	clear(p.st.engines[len(kept):])
	p.st.engines = kept
}

// writeReference encodes frame f once and writes it, with each engine's
// share of labels, as that engine's newest long-term and short-term
// memory; the objects in added are introduced on it.
func (p *Propagator) writeReference(ctx context.Context, f media.Frame, labels *mask.LabelMap, added []uint16) error {
	enc, err := p.encode(f)
	if err != nil {
		return fmt.Errorf("add reference frame %d: %w", f.Index, err)
	}
	sample := p.sampleFor(f)
	for ei, e := range p.st.engines {
		if err := ctx.Err(); err != nil {
			return err
		}
		slots := make([]uint8, len(sample))
		for i, src := range sample {
			if t := p.idTab[labels.Pix[src]]; t >= 0 && int(t>>8) == ei {
				slots[i] = uint8(t & 0xff)
			}
		}
		fr, err := p.referenceFrame(enc, slots)
		if err != nil {
			return fmt.Errorf("add reference frame %d: %w", f.Index, err)
		}
		fr.index, fr.step, fr.ref = f.Index, p.st.step, true
		p.replaceReference(e, fr)
		e.appendLong(fr)
		e.short = fr
		e.lastMemStep = p.st.step
		for _, id := range added {
			if o := p.st.objects[id]; o.eng == e {
				o.intro = fr
			}
		}
		p.evict(e)
	}
	return nil
}

// replaceReference removes e's long-term entries for fr's frame: a second
// reference for the same frame replaces the first, also as the frame that
// introduced its objects.
func (p *Propagator) replaceReference(e *engine, fr *memFrame) {
	for i := 0; i < len(e.long); i++ {
		if e.long[i].index == fr.index {
			old := e.long[i]
			e.removeLong(i)
			i--
			for _, o := range p.st.objects {
				if o.intro == old {
					o.intro = fr
				}
			}
		}
	}
}

// Propagate predicts the labels of the next frame from every engine's
// memory. The prediction becomes short-term memory (and, every
// LongTermMemGap frames, long-term memory) when the next frame arrives,
// unless that next call is AddReference on this same frame.
func (p *Propagator) Propagate(ctx context.Context, f media.Frame) (*mask.LabelMap, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out, _, err := p.propagate(ctx, f, false)
	return out, err
}

// frameProbs are a frame's merged probabilities: channel c of chans is
// p[c·W·H:(c+1)·W·H], row-major.
type frameProbs struct {
	chans []channel
	p     []float32
}

// propagate is Propagate; withProbs also returns the merged probabilities
// that the labels are the argmax of. The caller holds p.mu.
func (p *Propagator) propagate(ctx context.Context, f media.Frame, withProbs bool) (*mask.LabelMap, *frameProbs, error) {
	if p.closed {
		return nil, nil, ErrClosed
	}
	if !validFrame(f) {
		return nil, nil, fmt.Errorf("propagate frame %d: bad frame %dx%d with %d bytes (want W*H*3 packed RGB)", f.Index, f.W, f.H, len(f.RGB))
	}
	if !p.st.referenced {
		return nil, nil, fmt.Errorf("propagate frame %d: no reference frame yet; call AddReference with the first frame's labels", f.Index)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	for _, e := range p.st.engines {
		if err := p.commit(e); err != nil {
			return nil, nil, fmt.Errorf("propagate frame %d: %w", f.Index, err)
		}
	}
	out := mask.NewLabelMap(f.W, f.H)
	if len(p.st.engines) == 0 {
		p.st.step++
		return out, nil, nil
	}
	enc, err := p.encode(f)
	if err != nil {
		return nil, nil, fmt.Errorf("propagate frame %d: %w", f.Index, err)
	}
	// Run every engine before touching any state, so that an error or a
	// cancellation leaves the memory as it was.
	results := make([]map[string]ort.Tensor, len(p.st.engines))
	logits := make([][]float32, len(p.st.engines))
	for ei, e := range p.st.engines {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		res, err := p.runPropagate(enc, e)
		if err != nil {
			return nil, nil, fmt.Errorf("propagate frame %d: %w", f.Index, err)
		}
		results[ei] = res
		logits[ei] = res[nLogits].F32
	}
	p.st.step++
	for ei, e := range p.st.engines {
		res := results[ei]
		e.pending = &memFrame{index: f.Index, step: p.st.step,
			k: res[nCurK].F32, v: res[nCurV].F32, id: res[nCurID].F32}
	}
	// Resize to the frame, merge the engines and take the argmax.
	chmap := make([]uint16, f.W*f.H)
	var probs *frameProbs
	if withProbs {
		chans, _, _ := p.channels()
		probs = &frameProbs{chans: chans, p: make([]float32, len(chans)*f.W*f.H)}
	}
	chans := p.decide(logits, f.W, f.H, chmap, probsBuf(probs))
	for i, c := range chmap {
		out.Pix[i] = chans[c].id
	}
	// The prediction, as each engine will write it to memory.
	sample := p.sampleFor(f)
	for ei, e := range p.st.engines {
		slots := make([]uint8, len(sample))
		for i, src := range sample {
			if c := chans[chmap[src]]; c.engine == ei {
				slots[i] = c.slot
			}
		}
		e.pending.slots = slots
	}
	return out, probs, nil
}

func probsBuf(fp *frameProbs) []float32 {
	if fp == nil {
		return nil
	}
	return fp.p
}

// encode runs the encoder on a frame, or reuses the last run when it was
// the same frame (AddReference right after Propagate on one frame).
func (p *Propagator) encode(f media.Frame) (*encoding, error) {
	sum := crc32.Checksum(f.RGB, castagnoli)
	if c := p.cache; c != nil && c.index == f.Index && c.w == f.W && c.h == f.H && c.sum == sum {
		return c, nil
	}
	img := make([]float32, 3*p.man.Image.Height*p.man.Image.Width)
	p.preprocess(f, img)
	outs, err := p.enc.Run(map[string]ort.Tensor{nImage: ort.F32Tensor(img, 1, 3, int64(p.man.Image.Height), int64(p.man.Image.Width))})
	if err == nil {
		err = checkRun("encoder", outs, p.outShapes.enc)
	}
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	p.counts.encoder++
	p.cache = &encoding{index: f.Index, w: f.W, h: f.H, sum: sum, outs: outs}
	return p.cache, nil
}

// runGraph feeds a session the tensors it declares from avail, runs it
// and checks its outputs against the shapes the sidecar fixes.
func runGraph(s *ort.Session, graph string, avail map[string]ort.Tensor, want map[string][]int64) (map[string]ort.Tensor, error) {
	in, err := feed(s, avail)
	if err != nil {
		return nil, err
	}
	res, err := s.Run(in)
	if err == nil {
		err = checkRun(graph, res, want)
	}
	if err != nil {
		return nil, fmt.Errorf("%s graph: %w", graph, err)
	}
	return res, nil
}

// feed selects the tensors a session declares.
func feed(s *ort.Session, avail map[string]ort.Tensor) (map[string]ort.Tensor, error) {
	in := make(map[string]ort.Tensor, len(s.Inputs()))
	for _, i := range s.Inputs() {
		t, ok := avail[i.Name]
		if !ok {
			return nil, fmt.Errorf("no tensor for input %q of %s", i.Name, s.Path())
		}
		in[i.Name] = t
	}
	return in, nil
}

// sampleFor returns the one-hot cells' source pixels for a frame's size.
func (p *Propagator) sampleFor(f media.Frame) []int32 {
	if p.sample.fw != f.W || p.sample.fh != f.H {
		p.sample.fw, p.sample.fh = f.W, f.H
		p.sample.idx = sampleNearest(f.W, f.H, p.man.OneHot.Width, p.man.OneHot.Height)
	}
	return p.sample.idx
}

// onehot expands a slot map into the [1,S,oh,ow] one-hot input. The
// tensor shares a buffer that the next call overwrites.
func (p *Propagator) onehot(slots []uint8) ort.Tensor {
	n := len(slots)
	if len(p.onehotBuf) != p.S*n {
		p.onehotBuf = make([]float32, p.S*n)
	} else {
		clear(p.onehotBuf)
	}
	oh := p.onehotBuf
	for i, s := range slots {
		oh[int(s)*n+i] = 1
	}
	return ort.F32Tensor(oh, 1, int64(p.S), int64(p.man.OneHot.Height), int64(p.man.OneHot.Width))
}

func (p *Propagator) curShape(dim int) []int64 { return []int64{int64(p.NL), int64(p.L), int64(dim)} }

// referenceFrame runs the reference and memory_write graphs for one
// engine's labels.
func (p *Propagator) referenceFrame(enc *encoding, slots []uint8) (*memFrame, error) {
	avail := map[string]ort.Tensor{nOneHot: p.onehot(slots)}
	for k, v := range enc.outs {
		avail[k] = v
	}
	res, err := runGraph(p.ref, "reference", avail, p.outShapes.ref)
	if err != nil {
		return nil, err
	}
	p.counts.reference++
	fr := &memFrame{k: res[nCurK].F32, v: res[nCurV].F32, id: res[nCurID].F32, slots: slots}
	if fr.idv, err = p.writeIDV(fr.id, slots); err != nil {
		return nil, err
	}
	return fr, nil
}

// writeIDV runs memory_write: the ID-values of a frame from its ID-branch
// state and its labels.
func (p *Propagator) writeIDV(curID []float32, slots []uint8) ([]float32, error) {
	res, err := runGraph(p.write, "memory_write", map[string]ort.Tensor{
		nCurID:  ort.F32Tensor(curID, p.curShape(p.man.IDDim)...),
		nOneHot: p.onehot(slots),
	}, p.outShapes.write)
	if err != nil {
		return nil, err
	}
	p.counts.memoryWrite++
	return res[nIDV].F32, nil
}

// runPropagate runs one engine on the current encoding.
func (p *Propagator) runPropagate(enc *encoding, e *engine) (map[string]ort.Tensor, error) {
	e.buildLong()
	T := int64(len(e.long))
	NL, L := int64(p.NL), int64(p.L)
	m := p.man
	avail := map[string]ort.Tensor{
		nLtK:   ort.F32Tensor(e.ltK, T, NL, L, int64(m.KeyDim)),
		nLtV:   ort.F32Tensor(e.ltV, T, NL, L, int64(m.ValueDim)),
		nLtIDV: ort.F32Tensor(e.ltIDV, T, NL, L, int64(m.IDValueDim)),
		nStK:   ort.F32Tensor(e.short.k, NL, L, int64(m.KeyDim)),
		nStV:   ort.F32Tensor(e.short.v, NL, L, int64(m.ValueDim)),
		nStIDV: ort.F32Tensor(e.short.idv, NL, L, int64(m.IDValueDim)),
	}
	for k, v := range enc.outs {
		avail[k] = v
	}
	res, err := runGraph(p.prop, "propagate", avail, p.outShapes.prop)
	if err != nil {
		return nil, err
	}
	p.counts.propagate++
	return res, nil
}

// commit writes an engine's pending prediction to memory.
func (p *Propagator) commit(e *engine) error {
	fr := e.pending
	if fr == nil {
		return nil
	}
	idv, err := p.writeIDV(fr.id, fr.slots)
	if err != nil {
		return err
	}
	fr.idv = idv
	e.pending = nil
	e.short = fr
	if fr.step-e.lastMemStep >= p.opts.LongTermMemGap {
		e.appendLong(fr)
		e.lastMemStep = fr.step
		p.evict(e)
	}
	return nil
}

// scrub erases freed slots from every stored frame of an engine and
// recomputes the ID-values of the frames that held them.
func (p *Propagator) scrub(e *engine, slots []int) error {
	seen := map[*memFrame]bool{}
	frames := append(append([]*memFrame{}, e.long...), e.short, e.pending)
	for _, fr := range frames {
		if fr == nil || seen[fr] {
			continue
		}
		seen[fr] = true
		changed := false
		for i, s := range fr.slots {
			for _, k := range slots {
				if int(s) == k {
					fr.slots[i] = 0
					changed = true
				}
			}
		}
		if !changed || fr.idv == nil { // pending frames are written later
			continue
		}
		idv, err := p.writeIDV(fr.id, fr.slots)
		if err != nil {
			return err
		}
		fr.idv = idv
		e.ltDirty = true
	}
	return nil
}

// evict keeps an engine's long-term memory within MaxLongTerm: plain frames
// go first (oldest first), then references that are nobody's first
// reference and not the latest reference.
func (p *Propagator) evict(e *engine) {
	for len(e.long) > p.opts.MaxLongTerm {
		victim := -1
		for i, fr := range e.long {
			if !fr.ref {
				victim = i
				break
			}
		}
		if victim < 0 {
			pinned := map[*memFrame]bool{}
			for _, o := range p.st.objects {
				if o.eng == e && o.intro != nil {
					pinned[o.intro] = true
				}
			}
			for i := len(e.long) - 1; i >= 0; i-- {
				if e.long[i].ref {
					pinned[e.long[i]] = true // the latest reference
					break
				}
			}
			for i, fr := range e.long {
				if !pinned[fr] {
					victim = i
					break
				}
			}
			if victim < 0 {
				if !p.warned {
					p.warned = true
					p.opts.Logger.Warn("deaot: every long-term frame is a first reference; evicting the oldest (raise max long-term to slots+2)",
						"max_long_term", p.opts.MaxLongTerm)
				}
				victim = 0
			}
		}
		e.removeLong(victim)
	}
}

// Stats are the propagator's counters.
type Stats struct {
	// Engines and Objects are the current counts.
	Engines, Objects int
	// Step counts Propagate calls since the last Reset.
	Step int
	// Graph runs since Open.
	EncoderRuns, ReferenceRuns, PropagateRuns, MemoryWriteRuns int
}

// Stats reports the counters.
func (p *Propagator) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Engines: len(p.st.engines), Objects: len(p.st.objects), Step: p.st.step,
		EncoderRuns: p.counts.encoder, ReferenceRuns: p.counts.reference,
		PropagateRuns: p.counts.propagate, MemoryWriteRuns: p.counts.memoryWrite,
	}
}

// FrameInfo describes one memory frame.
type FrameInfo struct {
	// Index is the video frame index, Step the Propagate count when it was
	// stored.
	Index, Step int
	// Reference marks frames given by AddReference.
	Reference bool
}

// EngineMemory describes one engine's ID bank and memory.
type EngineMemory struct {
	// Slots holds the object id of every slot; Slots[0] (background) and
	// free slots are 0.
	Slots []uint16
	// LongTerm lists the long-term frames, oldest first.
	LongTerm []FrameInfo
	// ShortTerm is the previous frame.
	ShortTerm FrameInfo
	// Pending is true while a prediction awaits its memory write.
	Pending bool
}

// Memory describes every engine's memory.
func (p *Propagator) Memory() []EngineMemory {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []EngineMemory
	info := func(f *memFrame) FrameInfo {
		if f == nil {
			return FrameInfo{Index: -1, Step: -1}
		}
		return FrameInfo{Index: f.index, Step: f.step, Reference: f.ref}
	}
	for _, e := range p.st.engines {
		em := EngineMemory{Slots: append([]uint16(nil), e.ids...), ShortTerm: info(e.short), Pending: e.pending != nil}
		for _, f := range e.long {
			em.LongTerm = append(em.LongTerm, info(f))
		}
		out = append(out, em)
	}
	return out
}

// Slot reports where an object lives: its engine (index into Memory) and
// slot (1..M).
func (p *Propagator) Slot(id uint16) (engine, slot int, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.idTab[id]
	if t < 0 {
		return 0, 0, false
	}
	return int(t >> 8), int(t & 0xff), true
}
