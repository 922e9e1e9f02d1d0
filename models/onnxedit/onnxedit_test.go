package onnxedit_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"samtrack/internal/testgen"
	"samtrack/models/onnxedit"
	"samtrack/models/onnxpb"
	"samtrack/ort"
)

// externalize moves the raw data of every initializer larger than 256
// bytes of model into dir/name, as external data, and returns the
// rewritten model (what onnx.save_model(..., save_as_external_data=True)
// produces).
func externalize(t *testing.T, model []byte, dir, name string) []byte {
	t.Helper()
	top, graph, err := onnxpb.GraphOf(model)
	if err != nil {
		t.Fatal(err)
	}
	gfs, err := onnxpb.Fields(graph)
	if err != nil {
		t.Fatal(err)
	}
	var blob, g []byte
	moved := 0
	for _, gf := range gfs {
		if gf.Num != onnxpb.FieldGraphInitializer {
			g = append(g, gf.Raw...)
			continue
		}
		tb, data, ok, err := onnxpb.Externalize(gf.Payload, onnxpb.External{Location: name, Offset: int64(len(blob))}, 256)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			blob = append(blob, data...)
			moved++
		}
		g = onnxpb.AppendField(g, onnxpb.FieldGraphInitializer, tb)
	}
	if moved == 0 {
		t.Fatal("no initializer to externalize")
	}
	if err := os.WriteFile(filepath.Join(dir, name), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	return onnxpb.ReplaceGraph(top, g)
}

// decoderRun runs a SAM v1 decoder graph held in memory on one click.
func decoderRun(t *testing.T, rt *ort.Runtime, model []byte) map[string]ort.Tensor {
	t.Helper()
	s, err := rt.NewSessionFromBytes("decoder", model, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatalf("load decoder: %v", err)
	}
	defer s.Close()
	emb := make([]float32, 256*64*64)
	for i := range emb {
		emb[i] = float32(i%97) / 97
	}
	out, err := s.Run(map[string]ort.Tensor{
		"image_embeddings": ort.F32Tensor(emb, 1, 256, 64, 64),
		"point_coords":     ort.F32Tensor([]float32{300, 200, 0, 0}, 1, 2, 2),
		"point_labels":     ort.F32Tensor([]float32{1, -1}, 1, 2),
		"mask_input":       ort.F32Tensor(make([]float32, 256*256), 1, 1, 256, 256),
		"has_mask_input":   ort.F32Tensor([]float32{0}, 1),
		"orig_im_size":     ort.F32Tensor([]float32{480, 640}, 2),
	})
	if err != nil {
		t.Fatalf("run decoder: %v", err)
	}
	return out
}

func opTypes(t *testing.T, model []byte) []string {
	t.Helper()
	g, err := onnxedit.Parse(model)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range g.Nodes {
		ops = append(ops, n.Op)
	}
	return ops
}

func TestPruneToOutputs(t *testing.T) {
	rt := openORT(t)
	dec, err := testgen.SAMDecoder(false)
	if err != nil {
		t.Fatal(err)
	}
	iouOnly, err := onnxedit.PruneToOutputs(dec, []string{"iou_predictions"})
	if err != nil {
		t.Fatal(err)
	}
	all, pruned := opTypes(t, dec), opTypes(t, iouOnly)
	if !slices.Contains(all, "Resize") || slices.Contains(pruned, "Resize") || len(pruned) >= len(all) {
		t.Errorf("pruning to iou_predictions kept %d of %d nodes (Resize kept: %v)", len(pruned), len(all), slices.Contains(pruned, "Resize"))
	}
	want := decoderRun(t, rt, dec)["iou_predictions"].F32
	got := decoderRun(t, rt, iouOnly)
	if _, ok := got["masks"]; ok || !slices.Equal(got["iou_predictions"].F32, want) {
		t.Errorf("pruned graph gave %v (outputs %d), want %v only", got["iou_predictions"].F32, len(got), want)
	}
	if _, err := onnxedit.PruneToOutputs(dec, []string{"no_such_output"}); err == nil || !strings.Contains(err.Error(), "no_such_output") {
		t.Errorf("unknown output: err = %v", err)
	}
	if _, err := onnxedit.PruneToOutputs([]byte("not a model"), []string{"x"}); err == nil {
		t.Error("garbage accepted")
	}
}

func TestInlineExternalData(t *testing.T) {
	rt := openORT(t)
	dec, err := testgen.SAMDecoder(false)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ext := externalize(t, dec, dir, "decoder.weights")
	if _, err := rt.NewSessionFromBytes("external", ext, ort.Options{}); err == nil {
		t.Log("note: ONNX Runtime resolved the external data of an in-memory model by itself")
	}
	inl, external, err := onnxedit.InlineExternalData(ext, dir)
	if err != nil || !external {
		t.Fatalf("inline: external=%v err=%v", external, err)
	}
	want := decoderRun(t, rt, dec)
	got := decoderRun(t, rt, inl)
	for _, k := range []string{"iou_predictions", "low_res_masks"} {
		if !slices.Equal(got[k].F32, want[k].F32) {
			t.Errorf("%s differs after inlining", k)
		}
	}
	if same, external, err := onnxedit.InlineExternalData(dec, dir); err != nil || external || len(same) != len(dec) {
		t.Errorf("model without external data: external=%v err=%v", external, err)
	}
	os.Remove(filepath.Join(dir, "decoder.weights"))
	if _, _, err := onnxedit.InlineExternalData(ext, dir); err == nil {
		t.Error("missing weights file accepted")
	}
	// Same length, so the protobuf stays well formed.
	bad := []byte(strings.Replace(string(ext), "decoder.weights", "../ecoder.weigh", 1))
	if _, _, err := onnxedit.InlineExternalData(bad, dir); err == nil || !strings.Contains(err.Error(), "relative") {
		t.Errorf("external data outside the model directory: err = %v", err)
	}
}
