// Package testimg owns hostile test pictures for the tests of several
// packages: a valid PNG of a few tens of KB that declares a huge picture
// (a decompression bomb).
package testimg

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// HugePNG returns a valid 1-bit greyscale PNG of w x h black pixels. Its
// rows compress to almost nothing, so the file is small while decoding it
// would take w*h bytes or more.
func HugePNG(w, h int) []byte {
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	row := make([]byte, 1+(w+7)/8) // filter byte 0, then the bits
	for y := 0; y < h; y++ {
		zw.Write(row)
	}
	zw.Close()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8] = 1 // bit depth 1, colour type 0 (greyscale)
	chunk("IHDR", ihdr)
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}
