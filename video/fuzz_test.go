package video

import (
	"bytes"
	"testing"
)

// FuzzISOBoxes: the MP4 box walk that tells a cut-short MP4 from another
// file terminates on any bytes and explains every "truncated". Seeds:
// testdata/fuzz/FuzzISOBoxes.
func FuzzISOBoxes(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x10ftypisom\x00\x00\x02\x00\x00\x00\x00\x10mdat"))
	f.Fuzz(func(t *testing.T, data []byte) {
		why, cut := isoTruncatedAt(bytes.NewReader(data), int64(len(data)))
		if cut && why == "" {
			t.Fatal("truncated without a reason")
		}
	})
}

// FuzzJPEGOrientation: reading a JPEG's EXIF orientation (uploaded
// pictures, folders of frames) terminates on any bytes with an orientation
// of 1 to 8. Seeds: inline.
func FuzzJPEGOrientation(f *testing.F) {
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x24Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\xff\xda"))
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x24Exif\x00\x00II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x08\x00\x00\x00\x00\x00\xff\xd9"))
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xff\xe1\x00\x02\xff\xda"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := jpegOrientation(bytes.NewReader(data)); o < orientNone || o > orientRotate270 {
			t.Fatalf("orientation %d", o)
		}
	})
}
