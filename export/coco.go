package export

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"samtrack/mask"
)

// annotations.json is COCO, written frame by frame so that it is valid JSON
// after every finished frame without ever being rewritten as a whole per
// frame. COCO keeps images and annotations in two arrays, so the file is
// laid out as
//
//	{"info":{...,"samtrack_layout":K},"categories":[...],"images":[
//	{image},
//	{image}]<spaces>,"annotations":[
//	{annotation},
//	{annotation}]}
//
// The images array is followed by a reserve of spaces (JSON whitespace).
// A frame appends its annotations at the end, over the closing "]}" that it
// writes again after them, and its image entry into the reserve, over the
// images' "]" that it writes again after the entry. When the reserve runs
// out the file is rebuilt once with a reserve twice the size (layout K+1),
// through a temporary file renamed into place, so the total work stays
// linear in the file size. The manifest records the committed offsets after
// every frame; a crash in the middle of a frame is undone on resume by
// restoring "]" plus spaces from the committed end of the images and
// truncating after the committed end of the annotations.

// AnnotationsState is the committed layout of annotations.json, recorded in
// the manifest after every frame.
type AnnotationsState struct {
	// Layout is the generation of the file's layout (samtrack_layout in
	// its info block); it grows by one each time the reserve is enlarged.
	Layout int `json:"layout"`
	// ImagesEnd is the offset of the "]" closing the images array.
	ImagesEnd int64 `json:"images_end"`
	// GapEnd is the offset of `,"annotations":[` (the reserve ends there).
	GapEnd int64 `json:"gap_end"`
	// AnnotationsEnd is the offset of the final "]}".
	AnnotationsEnd int64 `json:"annotations_end"`
	// Images and Annotations count the entries written.
	Images      int `json:"images"`
	Annotations int `json:"annotations"`
}

const (
	annTail    = "]}\n"
	annSection = `,"annotations":[`
	// minReserve is the smallest images reserve, in bytes.
	minReserve = 8 << 10
	// imageEntryBytes estimates one image entry, to size the first reserve.
	imageEntryBytes = 112
)

func cocoHeader(layout int) []byte {
	return fmt.Appendf(nil, `{"info":{"description":"samtrack tracking results","version":"1.0","samtrack_layout":%d},"categories":[{"id":1,"name":"object","supercategory":"object"}],"images":[`, layout)
}

var layoutRE = regexp.MustCompile(`"samtrack_layout":(\d+)`)

// cocoFile appends to annotations.json.
type cocoFile struct {
	path string
	f    *os.File
	st   AnnotationsState
}

// createCOCO writes an empty annotations file with a reserve for about
// expectFrames images.
func createCOCO(path string, expectFrames int) (*cocoFile, error) {
	reserve := int64(max(minReserve, (expectFrames+16)*imageEntryBytes))
	hdr := cocoHeader(1)
	st := AnnotationsState{Layout: 1, ImagesEnd: int64(len(hdr))}
	st.GapEnd = st.ImagesEnd + reserve
	st.AnnotationsEnd = st.GapEnd + int64(len(annSection))
	var b bytes.Buffer
	b.Write(hdr)
	b.WriteByte(']')
	b.Write(bytes.Repeat([]byte{' '}, int(reserve-1)))
	b.WriteString(annSection)
	b.WriteString(annTail)
	if err := mask.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(b.Bytes()); return err }); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &cocoFile{path: path, f: f, st: st}, nil
}

// openCOCO reopens annotations.json for a resumed run and undoes whatever a
// crash left after the committed state st: the images reserve is restored
// from st.ImagesEnd and the file is cut after st.AnnotationsEnd.
func openCOCO(path string, st AnnotationsState) (*cocoFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("resume: open %s: %w; the output directory is incomplete, start a fresh run", path, err)
	}
	c := &cocoFile{path: path, f: f}
	fail := func(format string, args ...any) (*cocoFile, error) {
		f.Close()
		return nil, fmt.Errorf("resume: %s: "+format+"; the file does not match the manifest, start a fresh run", append([]any{path}, args...)...)
	}
	head := make([]byte, 256)
	n, _ := f.ReadAt(head, 0)
	mt := layoutRE.FindSubmatch(head[:n])
	if mt == nil {
		return fail("no samtrack_layout in its header")
	}
	layout, _ := strconv.Atoi(string(mt[1]))
	if layout < st.Layout || layout > st.Layout+8 {
		return fail("layout %d but the manifest committed layout %d", layout, st.Layout)
	}
	// The reserve was enlarged after the last commit: the rebuilt file
	// holds the same committed content in a later layout.
	for st.Layout < layout {
		st = grownState(st)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("resume: %w", err)
	}
	if fi.Size() < st.AnnotationsEnd || st.ImagesEnd >= st.GapEnd {
		return fail("it holds %d bytes, fewer than the %d committed", fi.Size(), st.AnnotationsEnd)
	}
	sec := make([]byte, len(annSection))
	if _, err := f.ReadAt(sec, st.GapEnd); err != nil || string(sec) != annSection {
		return fail("no annotations section at offset %d", st.GapEnd)
	}
	fill := make([]byte, st.GapEnd-st.ImagesEnd)
	fill[0] = ']'
	for i := 1; i < len(fill); i++ {
		fill[i] = ' '
	}
	if _, err := f.WriteAt(fill, st.ImagesEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("resume: repair %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(annTail), st.AnnotationsEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("resume: repair %s: %w", path, err)
	}
	if err := f.Truncate(st.AnnotationsEnd + int64(len(annTail))); err != nil {
		f.Close()
		return nil, fmt.Errorf("resume: repair %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("resume: repair %s: %w", path, err)
	}
	c.st = st
	return c, nil
}

// grownState is the layout after doubling the reserve (the images content,
// its "]" and the spaces); the header's length may change with the layout
// number.
func grownState(st AnnotationsState) AnnotationsState {
	oldHdr := int64(len(cocoHeader(st.Layout)))
	newHdr := int64(len(cocoHeader(st.Layout + 1)))
	reserve := 2 * (st.GapEnd - oldHdr)
	shift := newHdr - oldHdr
	ns := st
	ns.Layout++
	ns.ImagesEnd += shift
	ns.GapEnd = newHdr + reserve
	ns.AnnotationsEnd = st.AnnotationsEnd - st.GapEnd + ns.GapEnd
	return ns
}

// grow rebuilds the file with twice the reserve from the committed content.
func (c *cocoFile) grow() error {
	ns := grownState(c.st)
	oldHdr := int64(len(cocoHeader(c.st.Layout)))
	images := make([]byte, c.st.ImagesEnd-oldHdr)
	if _, err := c.f.ReadAt(images, oldHdr); err != nil {
		return fmt.Errorf("grow %s: %w", c.path, err)
	}
	anns := make([]byte, c.st.AnnotationsEnd-c.st.GapEnd)
	if _, err := c.f.ReadAt(anns, c.st.GapEnd); err != nil {
		return fmt.Errorf("grow %s: %w", c.path, err)
	}
	err := mask.WriteFileAtomic(c.path, func(w io.Writer) error {
		hdr := cocoHeader(ns.Layout)
		w.Write(hdr)
		w.Write(images)
		pad := make([]byte, ns.GapEnd-ns.ImagesEnd)
		pad[0] = ']'
		for i := 1; i < len(pad); i++ {
			pad[i] = ' '
		}
		w.Write(pad)
		w.Write(anns)
		_, err := io.WriteString(w, annTail)
		return err
	})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(c.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("grow %s: reopen: %w", c.path, err)
	}
	c.f.Close()
	c.f = f
	c.st = ns
	return nil
}

// appendFrame writes one image entry and its annotations and syncs the
// file. The caller commits the returned state in the manifest.
func (c *cocoFile) appendFrame(image []byte, anns [][]byte) error {
	if c.f == nil {
		return errors.New("annotations file is closed")
	}
	var ib bytes.Buffer
	if c.st.Images > 0 {
		ib.WriteString(",\n")
	} else {
		ib.WriteString("\n")
	}
	ib.Write(image)
	for c.st.ImagesEnd+int64(ib.Len())+1 > c.st.GapEnd {
		if err := c.grow(); err != nil {
			return err
		}
	}
	var ab bytes.Buffer
	for i, a := range anns {
		if c.st.Annotations+i > 0 {
			ab.WriteString(",\n")
		} else {
			ab.WriteString("\n")
		}
		ab.Write(a)
	}
	ab.WriteString(annTail)
	if _, err := c.f.WriteAt(ab.Bytes(), c.st.AnnotationsEnd); err != nil {
		return fmt.Errorf("write %s: %w; check free disk space", c.path, err)
	}
	ib.WriteByte(']')
	if _, err := c.f.WriteAt(ib.Bytes(), c.st.ImagesEnd); err != nil {
		return fmt.Errorf("write %s: %w; check free disk space", c.path, err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", c.path, err)
	}
	c.st.AnnotationsEnd += int64(ab.Len() - len(annTail))
	c.st.ImagesEnd += int64(ib.Len() - 1)
	c.st.Images++
	c.st.Annotations += len(anns)
	return nil
}

func (c *cocoFile) close() error {
	if c == nil || c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
