package video

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// isoTruncated inspects the top-level box layout of an ISO base media file
// (mp4, mov, m4v, 3gp) that FFmpeg refused to open. It reports true, with a
// human explanation, when the file is a real MP4 that was cut short: a box
// runs past the end of the file, or the index box ('moov', which many
// encoders write last) is missing. Any other file gives false, so a text
// file renamed .mp4 stays "not a video".
func isoTruncated(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", false
	}
	return isoTruncatedAt(f, st.Size())
}

// isoTruncatedAt is isoTruncated on the size bytes of f.
func isoTruncatedAt(f io.ReaderAt, size int64) (string, bool) {
	var (
		off      int64
		hdr      [16]byte
		boxes    int
		haveMoov bool
		haveMdat bool
	)
	for off < size {
		n, err := f.ReadAt(hdr[:8], off)
		if n < 8 {
			if boxes > 0 && (err == nil || err == io.EOF) {
				return fmt.Sprintf("the file ends inside a box header at byte %d of %d", off, size), true
			}
			return "", false
		}
		boxSize := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		if !isBoxType(typ) {
			return "", false
		}
		if boxes == 0 && !isLeadingBox(typ) {
			return "", false
		}
		headerLen := int64(8)
		switch boxSize {
		case 0: // box runs to the end of the file
			boxSize = size - off
		case 1: // 64-bit size follows
			if m, _ := f.ReadAt(hdr[8:16], off+8); m < 8 {
				return fmt.Sprintf("the file ends inside the %q box header at byte %d", typ, off), true
			}
			boxSize = int64(binary.BigEndian.Uint64(hdr[8:16]))
			headerLen = 16
		}
		if boxSize < headerLen {
			return "", false
		}
		boxes++
		switch typ {
		case "moov":
			haveMoov = true
		case "mdat":
			haveMdat = true
		}
		if off+boxSize > size {
			return fmt.Sprintf("the %q box at byte %d declares %d bytes but the file has only %d bytes left (file size %d)",
				typ, off, boxSize, size-off, size), true
		}
		off += boxSize
	}
	if boxes > 0 && haveMdat && !haveMoov {
		return "the file has video data ('mdat') but no index ('moov' box), which is written when a recording is finalised", true
	}
	return "", false
}

// isBoxType reports whether typ looks like a box four-character code.
func isBoxType(typ string) bool {
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '-' || c == '_' || c == 0xa9) {
			return false
		}
	}
	return true
}

// isLeadingBox reports whether a file may start with typ.
func isLeadingBox(typ string) bool {
	switch typ {
	case "ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "styp", "uuid":
		return true
	}
	return false
}
