// Command fuzzseeds writes the seed corpora of the fuzz targets into each
// package's testdata/fuzz/<Target>/ (the place `go test` reads them from):
// reproducers of the hostile inputs of issue 13, valid documents and
// damaged variants. Run from the repository root:
//
//	go run ./scripts/fuzzseeds
//
// It overwrites only the files it names (seed-*); inputs that `go test
// -fuzz` found and saved under other names stay.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"samtrack/internal/testgen"
	"samtrack/internal/testimg"
	"samtrack/mask"
	"samtrack/models/onnxpb"
)

func main() {
	n := 0
	n += writeBytes("pipeline", "FuzzParsePrompts", promptSeeds())
	n += writeBytes("service", "FuzzJobRequest", jobSeeds())
	n += writeBytes("mask", "FuzzReadLabelPNG", pngSeeds())
	n += writeRLE(rleSeeds())
	n += writeBytes("tracker/deaot", "FuzzManifest", manifestSeeds())
	small, sam := modelSeeds()
	n += writeBytes("models/onnxpb", "FuzzSignature", append(small, sam...))
	// ONNX Runtime builds a session to answer: the SAM decoder's mutants
	// cost up to seconds each, so its target starts from the small graphs.
	n += writeBytes("ort", "FuzzInspect", small)
	n += writeBytes("video", "FuzzISOBoxes", isoSeeds())
	fmt.Printf("wrote %d seed inputs\n", n)
}

type seed struct {
	name string
	data []byte
}

func writeBytes(pkg, target string, seeds []seed) int {
	dir := filepath.Join(pkg, "testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, s := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s.data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(body), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	return len(seeds)
}

func js(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

func objects(n int) []any {
	objs := make([]any, n)
	for i := range objs {
		objs[i] = map[string]any{"id": i + 1, "frame": 0, "points": [][]float64{{float64(10 + i%600), float64(10 + i/600%340)}}}
	}
	return objs
}

func promptSeeds() []seed {
	sample, err := os.ReadFile("testdata/sample_prompts.json")
	if err != nil {
		log.Fatal(err)
	}
	return []seed{
		{"sample", sample},
		// Over the limit like the 10,000-object reproducer (which the tests
		// of cmd/samtrack and service build at run time), at a tenth of
		// its 0.3 MB: a large seed slows every mutation of the target.
		{"1000-objects", js(map[string]any{"objects": objects(1000)})},
		{"frame-100000", []byte(`{"objects": [{"id": 1, "frame": 100000, "points": [[150, 120]]}]}`)},
		{"frame-maxint64", []byte(`{"objects": [{"id": 1, "frame": 9223372036854775807, "points": [[150, 120]]}]}`)},
		{"frame-past-int64", []byte(`{"objects": [{"id": 1, "frame": 9223372036854775808, "points": [[150, 120]]}]}`)},
		{"id-0", []byte(`{"objects": [{"id": 0, "points": [[150, 120]]}]}`)},
		{"id-0-float", []byte(`{"objects": [{"id": 0.0, "points": [[150, 120]]}]}`)},
		{"id-twice-one-frame", []byte(`{"objects": [{"id": 3, "frame": 1, "points": [[1, 2]]}, {"id": 3, "frame": 1, "box": [0, 0, 5, 5]}]}`)},
		{"id-on-two-frames", []byte(`{"objects": [{"id": 3, "frame": 0, "points": [[1, 2]]}, {"id": 3, "frame": 4, "points": [[2, 3]]}]}`)},
		{"bom", append([]byte("\xef\xbb\xbf"), sample...)},
		{"double-bom", append([]byte("\xef\xbb\xbf\xef\xbb\xbf"), sample...)},
		{"mask", []byte(`{"mask": "00000.png", "mask_frame": 2}`)},
		{"mask-and-points", []byte(`{"objects": [{"id": 1, "mask": "a.png", "points": [[1, 1]]}]}`)},
		{"negative-frame", []byte(`{"objects": [{"id": 1, "frame": -1, "points": [[1, 1]]}]}`)},
		{"id-65536", []byte(`{"objects": [{"id": 65536, "points": [[1, 1]]}]}`)},
		{"label-2", []byte(`{"objects": [{"id": 1, "points": [[1, 1, 2]]}]}`)},
		{"box-of-3", []byte(`{"objects": [{"id": 1, "box": [1, 2, 3]}]}`)},
		{"inverted-box", []byte(`{"objects": [{"id": 1, "box": [50, 50, 10, 10]}]}`)},
		{"huge-coords", []byte(`{"objects": [{"id": 1, "points": [[1e308, -1e308]], "box": [0, 0, 1e300, 1e300]}]}`)},
		{"overflow-number", []byte(`{"objects": [{"id": 1, "points": [[1e400, 1]]}]}`)},
		{"unknown-field", []byte(`{"objects": [{"id": 1, "clicks": [[10, 10]]}]}`)},
		{"trailing", []byte(`{"objects": [{"id": 1, "points": [[1, 1]]}]} {}`)},
		{"array", []byte(`[{"type": "point", "data": [1, 2]}]`)},
		{"empty", []byte(`{}`)},
		{"null", []byte(`null`)},
		{"deep", []byte(strings.Repeat(`{"objects": [`, 200))},
		{"unicode-path", []byte(`{"mask": "m\u00e4sk\u0000.png"}`)},
		{"many-points", js(map[string]any{"objects": []any{map[string]any{"id": 1, "points": func() [][]float64 {
			p := make([][]float64, 200)
			for i := range p {
				p[i] = []float64{float64(i), float64(i), float64(i % 2)}
			}
			return p
		}()}}})},
	}
}

func tinyPNG() []byte {
	m := image.NewGray(image.Rect(0, 0, 4, 3))
	m.Pix[5] = 1
	var b bytes.Buffer
	png.Encode(&b, m)
	return b.Bytes()
}

func jobSeeds() []seed {
	point := map[string]any{"objects": []any{map[string]any{"id": 1, "points": [][]float64{{150, 120, 1}}}}}
	job := func(input string) []byte { return js(map[string]any{"input": input, "prompts": point}) }
	return []seed{
		{"metrics", job("http://127.0.0.1:8080/metrics")},
		{"cloud-metadata", job("http://169.254.169.254/latest/meta-data/")},
		{"ipv6-ssh", job("http://[::1]:22/")},
		{"localhost", job("http://localhost:8080/clip.mp4")},
		{"rtsp-camera", job("rtsp://admin:secret@10.0.0.5:554/stream")},
		{"file-scheme", job("file:///etc/passwd")},
		{"upload", job("upload:0123456789abcdef0123")},
		{"1000-objects", js(map[string]any{"input": "upload:0123456789abcdef0123", "prompts": map[string]any{"objects": objects(1000)}})},
		{"options-nested", js(map[string]any{"input": "x.mp4", "prompts": point, "options": map[string]any{"track": map[string]any{"sam_gap": 5}, "video.max_frames": 10}})},
		{"options-twice", []byte(`{"input": "x.mp4", "everything": true, "options": {"track": {"sam_gap": 5}, "track.sam_gap": 6}}`)},
		{"server-only-option", js(map[string]any{"input": "x.mp4", "prompts": point, "options": map[string]any{"runtime.ort_library": "/tmp/evil.so"}})},
		{"limit-option", js(map[string]any{"input": "x.mp4", "prompts": point, "options": map[string]any{"track.max_prompts": 100000}})},
		{"bad-option-type", []byte(`{"input": "x.mp4", "everything": true, "options": {"video.timeout": [1]}}`)},
		{"live-object", []byte(`{"input": "http://example.com/cam.mjpg", "everything": true, "live": {"buffer": 3, "stall_timeout": "5s"}}`)},
		{"live-bad", []byte(`{"input": "http://example.com/cam.mjpg", "everything": true, "live": {"buffer": -3, "stall_timeout": "forever"}}`)},
		{"live-true", []byte(`{"input": "rtsp://example.com/cam", "everything": true, "live": true}`)},
		{"data-url-mask", js(map[string]any{"input": "x.mp4", "prompts": map[string]any{"objects": []any{map[string]any{"id": 2, "mask": "data:image/png;base64," + base64.StdEncoding.EncodeToString(tinyPNG())}}}})},
		{"data-url-bomb", js(map[string]any{"input": "x.mp4", "prompts": map[string]any{"mask": "data:image/png;base64," + base64.StdEncoding.EncodeToString(testimg.HugePNG(20000, 20000))}})},
		{"data-url-not-png", []byte(`{"input": "x.mp4", "prompts": {"mask": "data:image/png;base64,aGVsbG8="}}`)},
		{"mask-path-outside", []byte(`{"input": "x.mp4", "prompts": {"mask": "/etc/hostname"}}`)},
		{"unknown-field", []byte(`{"inptu": "x"}`)},
		{"malformed", []byte("{\"input\": \"x\",\n \"prompts\": }")},
		{"long-name", js(map[string]any{"input": "x.mp4", "everything": true, "name": strings.Repeat("n", 300)})},
	}
}

func pngOf(img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

func pngSeeds() []seed {
	labels := mask.NewLabelMap(8, 6)
	for i := range labels.Pix {
		labels.Pix[i] = uint16(i % 4)
	}
	var pal bytes.Buffer
	if err := mask.WritePalettePNG(&pal, labels); err != nil {
		log.Fatal(err)
	}
	labels.Pix[7] = 1000
	var wide bytes.Buffer
	if err := mask.WritePalettePNG(&wide, labels); err != nil {
		log.Fatal(err)
	}
	gray := image.NewGray(image.Rect(0, 0, 5, 5))
	gray.Pix[12] = 3
	gray16 := image.NewGray16(image.Rect(0, 0, 3, 3))
	gray16.SetGray16(1, 1, color.Gray16{Y: 70000 % 65536})
	rgb := image.NewRGBA(image.Rect(0, 0, 2, 2))
	nrgba := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	p := pal.Bytes()
	return []seed{
		{"palette", p},
		{"palette-16bit-ids", wide.Bytes()},
		{"gray8", pngOf(gray)},
		{"gray16", pngOf(gray16)},
		{"rgba-refused", pngOf(rgb)},
		{"nrgba-refused", pngOf(nrgba)},
		{"bomb-20000x20000", testimg.HugePNG(20000, 20000)},
		{"bomb-65536x1", testimg.HugePNG(65536, 1)},
		{"truncated", p[:len(p)/2]},
		{"header-only", p[:33]},
		{"signature-only", p[:8]},
		{"not-png", []byte("GIF89a not a png")},
		{"zero-width", func() []byte {
			b := bytes.Clone(p)
			binary.BigEndian.PutUint32(b[16:], 0) // IHDR width (the CRC no longer matches)
			return b
		}()},
	}
}

func writeRLE(seeds []rleSeed) int {
	dir := filepath.Join("mask", "testdata", "fuzz", "FuzzCompressedRLE")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\nint(%d)\nint(%d)\nstring(%s)\n", s.h, s.w, strconv.Quote(s.counts))
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(body), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	return len(seeds)
}

type rleSeed struct {
	name   string
	h, w   int
	counts string
}

func rleSeeds() []rleSeed {
	var out []rleSeed
	for i, sz := range [][2]int{{1, 1}, {4, 5}, {17, 9}, {64, 48}} {
		b := mask.NewBitmap(sz[1], sz[0])
		for p := range b.Pix {
			if (p*7+i)%5 < 2 {
				b.Pix[p] = 1
			}
		}
		r, err := mask.EncodeRLE(b)
		if err != nil {
			log.Fatal(err)
		}
		out = append(out, rleSeed{fmt.Sprintf("mask-%dx%d", sz[0], sz[1]), sz[0], sz[1], r.Compress().Counts})
	}
	return append(out,
		rleSeed{"empty-mask", 3, 3, "9"},
		rleSeed{"full-mask", 3, 3, "09"},
		rleSeed{"overflow-size", 1 << 32, 1 << 32, ""},
		rleSeed{"negative-size", -2, 3, "0"},
		rleSeed{"bad-byte", 2, 2, "0~"},
		rleSeed{"truncated-value", 2, 2, "0`"},
		rleSeed{"too-long-value", 2, 2, strings.Repeat("o", 20)},
		rleSeed{"wrong-sum", 2, 2, "05"},
		rleSeed{"negative-delta", 10, 10, "1234X"},
	)
}

func manifestSeeds() []seed {
	files, err := testgen.Propagator(testgen.PropagatorOptions{Height: 32, Width: 32, Stride: 8, Slots: 4, Layers: 1})
	if err != nil {
		log.Fatal(err)
	}
	valid := files[testgen.FilePropagatorManifest]
	edit := func(from, to string) []byte { return []byte(strings.Replace(string(valid), from, to, 1)) }
	return []seed{
		{"valid", valid},
		{"absolute-file", edit(`"encoder": "`, `"encoder": "/etc/`)},
		{"dotdot-file", edit(`"encoder": "`, `"encoder": "../`)},
		{"slots-0", edit(`"slots": 4`, `"slots": 0`)},
		{"slots-256", edit(`"slots": 4`, `"slots": 256`)},
		{"wrong-format", edit(`samtrack-deaot/1`, `samtrack-deaot/9`)},
		{"unknown-field", edit(`{`, `{"extra": 1, `)},
		{"truncated", valid[:len(valid)/2]},
		{"empty", []byte(`{}`)},
		{"not-json", []byte(`format: samtrack-deaot/1`)},
		{"huge-dims", edit(`"layers": 1`, `"layers": 2147483647`)},
	}
}

func modelSeeds() (small, sam []seed) {
	g := onnxpb.NewGraph("relu")
	x := g.Input("x", onnxpb.Float, 1, 3)
	g.Output("y", g.Op("Relu", x), onnxpb.Float, 1, 3)
	relu, err := g.Model()
	if err != nil {
		log.Fatal(err)
	}
	g = onnxpb.NewGraph("two")
	a := g.Input("a", onnxpb.Float, "n", 4)
	g.Output("sum", g.Op("Add", a, g.Floats(1, 2, 3, 4)), onnxpb.Float, "n", 4)
	g.Output("neg", g.Op("Neg", a), onnxpb.Float, "n", 4)
	two, err := g.Model()
	if err != nil {
		log.Fatal(err)
	}
	dec, err := testgen.SAMDecoder(true)
	if err != nil {
		log.Fatal(err)
	}
	flip := func(b []byte, at int) []byte {
		c := bytes.Clone(b)
		c[at%len(c)] ^= 0xff
		return c
	}
	small = []seed{
		{"relu", relu},
		{"two-outputs", two},
		{"relu-truncated", relu[:len(relu)/2]},
		{"two-truncated", two[:len(two)-3]},
		{"relu-flipped-10", flip(relu, 10)},
		{"two-flipped-middle", flip(two, len(two)/2)},
		{"empty", nil},
		{"not-onnx", []byte("this is not a model")},
		{"varint-overflow", bytes.Repeat([]byte{0xff}, 16)},
	}
	return small, []seed{{"sam-decoder", dec}, {"sam-decoder-truncated", dec[:len(dec)*2/3]}}
}

func box(typ string, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(b, uint32(8+len(payload)))
	copy(b[4:], typ)
	return append(b, payload...)
}

func isoSeeds() []seed {
	ftyp := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2avc1mp41"))
	mdat := box("mdat", bytes.Repeat([]byte{0}, 64))
	moov := box("moov", box("mvhd", make([]byte, 100)))
	sample, err := os.ReadFile("testdata/sample.mp4")
	if err != nil {
		log.Fatal(err)
	}
	large := append([]byte{0, 0, 0, 1}, []byte("mdat")...)
	large = binary.BigEndian.AppendUint64(large, 1<<40)
	huge := append([]byte{0, 0, 0, 1}, []byte("mdat")...)
	huge = binary.BigEndian.AppendUint64(huge, 1<<63+5)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return []seed{
		{"complete", cat(ftyp, moov, mdat)},
		{"moov-last", cat(ftyp, mdat, moov)},
		{"no-moov", cat(ftyp, mdat)},
		{"cut-in-mdat", cat(ftyp, mdat)[:len(ftyp)+20]},
		{"cut-in-header", cat(ftyp, mdat)[:len(ftyp)+5]},
		{"size-0-to-end", cat(ftyp, []byte{0, 0, 0, 0}, []byte("mdat"), make([]byte, 10))},
		{"64bit-size", cat(ftyp, large)},
		{"64bit-size-overflow", cat(ftyp, huge)},
		{"size-below-header", cat(ftyp, []byte{0, 0, 0, 4}, []byte("free"))},
		{"sample-head", sample[:512]},
		{"sample-tail", sample[len(sample)-512:]},
		{"text", []byte("this is text, not a video\n")},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00")},
	}
}
