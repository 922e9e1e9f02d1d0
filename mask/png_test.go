package mask

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"samtrack/internal/testenv"
)

func TestDavisPalette(t *testing.T) {
	p := DavisPalette()
	if len(p) != 256 {
		t.Fatalf("%d entries, want 256", len(p))
	}
	want := map[int]color.RGBA{
		0: {0, 0, 0, 255}, 1: {128, 0, 0, 255}, 2: {0, 128, 0, 255}, 3: {128, 128, 0, 255},
		4: {0, 0, 128, 255}, 8: {64, 0, 0, 255}, 255: {224, 224, 192, 255},
	}
	for i, w := range want {
		if got := p[i].(color.RGBA); got != w {
			t.Errorf("entry %d = %v, want %v", i, got, w)
		}
	}
	for i, c := range p {
		if c.(color.RGBA).A != 255 {
			t.Fatalf("entry %d not opaque", i)
		}
	}
}

// pngChunks lists the chunk types of an encoded PNG and returns IHDR's bit
// depth and colour type and the PLTE length.
func pngChunks(t *testing.T, data []byte) (types []string, depth, ctype, plte int) {
	t.Helper()
	p := 8
	for p+8 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		types = append(types, typ)
		body := data[p+8 : p+8+n]
		switch typ {
		case "IHDR":
			depth, ctype = int(body[8]), int(body[9])
		case "PLTE":
			plte = n
		}
		p += 12 + n
	}
	return types, depth, ctype, plte
}

func TestWritePalettePNGRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		maxID     int
		wantDepth int
		wantCtype int
	}{
		{"8-bit palette", 255, 8, 3},
		{"few ids still 8-bit", 2, 8, 3},
		{"16-bit greyscale above 255", 1000, 16, 0},
		{"16-bit full range", 65535, 16, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLabelMap(37, 23)
			for i := range l.Pix {
				l.Pix[i] = uint16((i * 7919) % (tc.maxID + 1))
			}
			l.Pix[5] = uint16(tc.maxID)
			var buf bytes.Buffer
			if err := WritePalettePNG(&buf, l); err != nil {
				t.Fatal(err)
			}
			types, depth, ctype, plte := pngChunks(t, buf.Bytes())
			if depth != tc.wantDepth || ctype != tc.wantCtype {
				t.Errorf("bit depth %d colour type %d, want %d and %d", depth, ctype, tc.wantDepth, tc.wantCtype)
			}
			if ctype == 3 && plte != 256*3 {
				t.Errorf("PLTE holds %d bytes, want all 256 entries (768)", plte)
			}
			if slices.Contains(types, "tRNS") {
				t.Errorf("tRNS chunk written: %v", types)
			}
			back, lf, err := DecodeLabelPNG(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if lf.Paletted != (ctype == 3) || lf.BitDepth != tc.wantDepth {
				t.Errorf("format %+v", lf)
			}
			if back.W != l.W || back.H != l.H || !slices.Equal(back.Pix, l.Pix) {
				t.Errorf("round trip changed the ids")
			}
		})
	}
}

func TestReadLabelPNGDavis(t *testing.T) {
	path := "../../shared/data/davis2017-partial/Annotations/480p/tennis/00000.png"
	if _, err := os.Stat(path); err != nil {
		testenv.Missing(t, "DAVIS 2017 partial data missing (%v); it lives under /work/shared/data", err)
	}
	for _, f := range []string{"00000.png", "00001.png"} {
		l, lf, err := DecodeLabelPNGFile(filepath.Join(filepath.Dir(path), f))
		if err != nil {
			t.Fatal(err)
		}
		if l.W != 854 || l.H != 480 {
			t.Errorf("%s: size %dx%d, want 854x480", f, l.W, l.H)
		}
		if !lf.Paletted || lf.BitDepth != 8 {
			t.Errorf("%s: format %+v, want 8-bit palette", f, lf)
		}
		if ids := l.IDs(); !slices.Equal(ids, []uint16{1, 2, 255}) {
			t.Errorf("%s: ids %v, want [1 2 255] (two players and void)", f, ids)
		}
		// Writing and reading again keeps every id.
		var buf bytes.Buffer
		if err := WritePalettePNG(&buf, l); err != nil {
			t.Fatal(err)
		}
		back, err := ReadLabelPNG(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.Pix, l.Pix) {
			t.Errorf("%s: rewrite changed the ids", f)
		}
	}
}

// rawPNG builds a PNG by hand (Go's encoder cannot write 1-bit greyscale or
// grey with tRNS). rows are the packed scanlines without filter bytes.
func rawPNG(w, h, depth, ctype int, rows [][]byte, extra map[string][]byte) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, body []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(body)))
		out.Write(n[:])
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(body)
		out.WriteString(typ)
		out.Write(body)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = byte(depth), byte(ctype)
	chunk("IHDR", ihdr)
	for typ, body := range extra {
		chunk(typ, body)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	for _, r := range rows {
		zw.Write([]byte{0})
		zw.Write(r)
	}
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

func TestReadLabelPNGFormats(t *testing.T) {
	encode := func(img image.Image) []byte {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	gray := image.NewGray(image.Rect(0, 0, 3, 1))
	gray.Pix = []uint8{0, 7, 255}
	gray16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	gray16.Pix = []uint8{0x01, 0x2c, 0xff, 0xff} // 300, 65535
	rgb := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for i := range rgb.Pix {
		rgb.Pix[i] = 0xff
	}

	tests := []struct {
		name    string
		data    []byte
		want    []uint16
		wantErr string
	}{
		{"8-bit grey by value", encode(gray), []uint16{0, 7, 255}, ""},
		{"16-bit grey by value", encode(gray16), []uint16{300, 65535}, ""},
		{"1-bit grey reads 0/1", rawPNG(8, 1, 1, 0, [][]byte{{0b10110000}}, nil), []uint16{1, 0, 1, 1, 0, 0, 0, 0}, ""},
		{"4-bit grey raw values", rawPNG(2, 1, 4, 0, [][]byte{{0x3f}}, nil), []uint16{3, 15}, ""},
		{"8-bit grey with tRNS", rawPNG(3, 1, 8, 0, [][]byte{{0, 5, 9}}, map[string][]byte{"tRNS": {0, 0}}), []uint16{0, 5, 9}, ""},
		{"4-bit palette by index", rawPNG(2, 1, 4, 3, [][]byte{{0x21}}, map[string][]byte{"PLTE": make([]byte, 9)}), []uint16{2, 1}, ""},
		{"RGB refused", encode(rgb), nil, "must be indexed"},
		{"grey+alpha refused", rawPNG(1, 1, 8, 4, [][]byte{{1, 255}}, nil), nil, "alpha"},
		{"not a PNG", []byte("GIF89a........................"), nil, "not a PNG"},
		{"empty input", nil, nil, "not a PNG"},
		{"truncated", encode(gray)[:40], nil, "read label PNG"},
		{"huge header", rawPNG(1<<20, 1<<20, 8, 0, nil, nil), nil, "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ReadLabelPNG(bytes.NewReader(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.Pix, tc.want) {
				t.Errorf("ids %v, want %v", l.Pix, tc.want)
			}
		})
	}
}

func TestWriteBinaryPNG(t *testing.T) {
	b := bitmapFromRows("0110", "1001")
	var buf bytes.Buffer
	if err := WriteBinaryPNG(&buf, b); err != nil {
		t.Fatal(err)
	}
	_, depth, ctype, _ := pngChunks(t, buf.Bytes())
	if depth != 8 || ctype != 0 {
		t.Errorf("bit depth %d colour type %d, want 8-bit greyscale", depth, ctype)
	}
	l, err := ReadLabelPNG(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint16{0, 255, 255, 0, 255, 0, 0, 255}; !slices.Equal(l.Pix, want) {
		t.Errorf("pixels %v, want %v", l.Pix, want)
	}
}

func TestWriteBadInput(t *testing.T) {
	var buf bytes.Buffer
	for name, err := range map[string]error{
		"nil label map":   WritePalettePNG(&buf, nil),
		"empty label map": WritePalettePNG(&buf, NewLabelMap(0, 5)),
		"short label map": WritePalettePNG(&buf, &LabelMap{W: 2, H: 2, Pix: make([]uint16, 3)}),
		"nil bitmap":      WriteBinaryPNG(&buf, nil),
		"empty bitmap":    WriteBinaryPNG(&buf, NewBitmap(4, 0)),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "00000.png")
	l := NewLabelMap(4, 3)
	l.Pix[1] = 2
	write := func(w io.Writer) error { return WritePalettePNG(w, l) }
	if err := WriteFileAtomic(path, write); err != nil {
		t.Fatal(err)
	}
	back, err := ReadLabelPNGFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Pix, l.Pix) {
		t.Errorf("file holds other ids")
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}

	// A failing writer leaves the old file and no temporary behind.
	boom := errors.New("boom")
	err = WriteFileAtomic(path, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the writer's", err)
	}
	if back, err := ReadLabelPNGFile(path); err != nil || !slices.Equal(back.Pix, l.Pix) {
		t.Errorf("old file damaged: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
	// A missing folder is named as the problem (not the temporary file).
	missing := filepath.Join(dir, "missing", "x.png")
	if err := WriteFileAtomic(missing, write); err == nil || strings.Contains(err.Error(), ".tmp-") ||
		!strings.Contains(err.Error(), "the folder "+filepath.Join(dir, "missing")+"/ does not exist") {
		t.Errorf("missing folder: %v", err)
	}

	// A full disk names the file and says what to do.
	err = WriteFileAtomic(path, func(io.Writer) error {
		return &fs.PathError{Op: "write", Path: "elsewhere", Err: syscall.ENOSPC}
	})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) || !strings.HasSuffix(err.Error(), "; check free disk space") {
		t.Errorf("full disk: %v", err)
	}
}
