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
