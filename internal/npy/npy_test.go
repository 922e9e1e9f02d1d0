package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// npyBytes builds a version-1 .npy file as numpy.save writes it.
func npyBytes(descr, shape string, data []byte) []byte {
	hdr := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }"
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

func TestDecodeAndNPZ(t *testing.T) {
	f32 := make([]byte, 0, 24)
	for _, v := range []float32{1, -2.5, 3e-3, 4, 5, 6} {
		f32 = binary.LittleEndian.AppendUint32(f32, math.Float32bits(v))
	}
	// float16: 1, -2, 0.5, 65504 (max), a subnormal (2^-24), -0.
	f16 := []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x80}
	tests := []struct {
		name  string
		file  []byte
		shape []int
		data  []float32
		err   string
	}{
		{"float32 2x3", npyBytes("<f4", "(2, 3)", f32), []int{2, 3}, []float32{1, -2.5, 3e-3, 4, 5, 6}, ""},
		{"float16 6", npyBytes("<f2", "(6,)", f16), []int{6}, []float32{1, -2, 0.5, 65504, float32(math.Pow(2, -24)), 0}, ""},
		{"truncated data", npyBytes("<f4", "(7,)", f32), nil, nil, "data bytes"},
		{"int64", npyBytes("<i8", "(3,)", f32), nil, nil, "not supported"},
		{"not npy", []byte("PK\x03\x04 something else"), nil, nil, "not a .npy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Decode(tc.name, tc.file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.Shape, tc.shape) || !slices.Equal(a.Data, tc.data) {
				t.Errorf("got %v %v, want %v %v", a.Shape, a.Data, tc.shape, tc.data)
			}
		})
	}
	// An .npz holding both, as numpy.savez_compressed writes it.
	path := filepath.Join(t.TempDir(), "x.npz")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range map[string][]byte{"a.npy": tests[0].file, "probs.npy": tests[1].file} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || !slices.Equal(m["a"].Data, tests[0].data) || !slices.Equal(m["probs"].Shape, []int{6}) {
		t.Errorf("ReadNPZ: %v", m)
	}
	if _, err := ReadNPZ(filepath.Join(t.TempDir(), "missing.npz")); err == nil {
		t.Error("missing file: no error")
	}
}
