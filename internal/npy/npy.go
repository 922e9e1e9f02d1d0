// Package npy reads NumPy .npy arrays and .npz archives (float16 and
// float32, C order) as float32, for tests that compare with reference
// outputs saved by Python.
package npy

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Array is a C-order array read from a .npy file, converted to float32.
type Array struct {
	Shape []int
	Data  []float32
}

var shapeRE = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
var descrRE = regexp.MustCompile(`'descr':\s*'([^']*)'`)

// Read reads a little-endian float16 or float32 .npy file (versions 1-3,
// C order).
func Read(path string) (*Array, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(path, b)
}

// ReadNPZ reads every array of an .npz archive (numpy.savez or
// savez_compressed), keyed by name without the .npy suffix.
func ReadNPZ(path string) (map[string]*Array, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("open npz: %w", err)
	}
	defer zr.Close()
	out := map[string]*Array{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		a, err := Decode(path+":"+f.Name, b)
		if err != nil {
			return nil, err
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = a
	}
	return out, nil
}

// Decode parses the bytes of a .npy file; name labels errors.
func Decode(name string, b []byte) (*Array, error) {
	path := name
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("%s: not a .npy file", path)
	}
	var hlen, off int
	switch b[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, fmt.Errorf("%s: truncated header", path)
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, fmt.Errorf("%s: unsupported .npy version %d", path, b[6])
	}
	if off+hlen > len(b) {
		return nil, fmt.Errorf("%s: truncated header", path)
	}
	hdr := string(b[off : off+hlen])
	body := b[off+hlen:]
	if strings.Contains(hdr, "'fortran_order': True") {
		return nil, fmt.Errorf("%s: Fortran order not supported", path)
	}
	dm := descrRE.FindStringSubmatch(hdr)
	sm := shapeRE.FindStringSubmatch(hdr)
	if dm == nil || sm == nil {
		return nil, fmt.Errorf("%s: cannot parse header %q", path, hdr)
	}
	a := &Array{}
	n := 1
	for _, f := range strings.Split(sm[1], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: bad shape %q", path, sm[1])
		}
		a.Shape = append(a.Shape, d)
		n *= d
	}
	a.Data = make([]float32, n)
	switch dm[1] {
	case "<f4":
		if len(body) < 4*n {
			return nil, fmt.Errorf("%s: %d data bytes for %d float32", path, len(body), n)
		}
		for i := range a.Data {
			a.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		}
	case "<f2":
		if len(body) < 2*n {
			return nil, fmt.Errorf("%s: %d data bytes for %d float16", path, len(body), n)
		}
		for i := range a.Data {
			a.Data[i] = float16to32(binary.LittleEndian.Uint16(body[2*i:]))
		}
	default:
		return nil, fmt.Errorf("%s: dtype %s not supported (want <f2 or <f4)", path, dm[1])
	}
	return a, nil
}

func float16to32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		f := float32(frac) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			return -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}
