package pipeline

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParsePrompts: any prompts document is refused with an error or
// accepted as a valid one that survives a round trip; nothing panics.
// Seeds: testdata/fuzz/FuzzParsePrompts (scripts/fuzzseeds writes them).
func FuzzParsePrompts(f *testing.F) {
	f.Add([]byte(`{"objects": [{"id": 1, "frame": 0, "points": [[150, 120, 1]]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePrompts(data, "")
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted prompts fail Validate: %v", err)
		}
		_ = p.CheckLimits(256, 64)
		_ = p.pastEnd(10, false)
		for _, o := range p.Objects {
			_ = o.Prompt()
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal accepted prompts: %v", err)
		}
		q, err := ParsePrompts(b, "")
		if err != nil {
			t.Fatalf("accepted prompts do not parse back: %v\n%s", err, b)
		}
		if b2, _ := json.Marshal(q); !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed the prompts:\n%s\n%s", b, b2)
		}
	})
}
