package segment

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// ONNX protobuf field numbers used to inline external initializer data.
const (
	pbModelGraph       = 7  // ModelProto.graph
	pbGraphInitializer = 5  // GraphProto.initializer
	pbTensorRawData    = 9  // TensorProto.raw_data
	pbTensorExternal   = 13 // TensorProto.external_data
	pbTensorLocation   = 14 // TensorProto.data_location (1 = EXTERNAL)
	pbEntryKey         = 1  // StringStringEntryProto.key
	pbEntryValue       = 2  // StringStringEntryProto.value
)

// inlineExternalData returns model with every initializer whose data lives
// in an external file (resolved relative to dir, as ONNX Runtime does for
// a model file) rewritten to carry the bytes itself, so that a rewritten
// graph can be loaded from memory. A model without external data is
// returned unchanged; external is false then.
func inlineExternalData(model []byte, dir string) (out []byte, external bool, err error) {
	top, err := pbFields(model)
	if err != nil {
		return nil, false, fmt.Errorf("parse ONNX model: %w", err)
	}
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, f := range top {
		if f.num != pbModelGraph || f.typ != protowire.BytesType {
			out = append(out, f.raw...)
			continue
		}
		gfs, err := pbFields(f.payload)
		if err != nil {
			return nil, false, fmt.Errorf("parse ONNX graph: %w", err)
		}
		var g []byte
		for _, gf := range gfs {
			if gf.num != pbGraphInitializer || gf.typ != protowire.BytesType {
				g = append(g, gf.raw...)
				continue
			}
			t, ext, err := inlineTensor(gf.payload, dir, files)
			if err != nil {
				return nil, false, err
			}
			external = external || ext
			g = protowire.AppendTag(g, pbGraphInitializer, protowire.BytesType)
			g = protowire.AppendBytes(g, t)
		}
		out = protowire.AppendTag(out, pbModelGraph, protowire.BytesType)
		out = protowire.AppendBytes(out, g)
	}
	if !external {
		return model, false, nil
	}
	return out, true, nil
}

func inlineTensor(t []byte, dir string, files map[string]*os.File) ([]byte, bool, error) {
	fs, err := pbFields(t)
	if err != nil {
		return nil, false, fmt.Errorf("parse ONNX initializer: %w", err)
	}
	isExt := false
	for _, f := range fs {
		if f.num == pbTensorLocation && f.typ == protowire.VarintType {
			v, _ := protowire.ConsumeVarint(f.raw[protowire.SizeTag(f.num):])
			isExt = v == 1
		}
	}
	if !isExt {
		return t, false, nil
	}
	var loc string
	offset, length := int64(0), int64(-1)
	var out []byte
	for _, f := range fs {
		switch f.num {
		case pbTensorExternal:
			es, err := pbFields(f.payload)
			if err != nil {
				return nil, false, fmt.Errorf("parse external_data entry: %w", err)
			}
			var k, v string
			for _, e := range es {
				switch e.num {
				case pbEntryKey:
					k = string(e.payload)
				case pbEntryValue:
					v = string(e.payload)
				}
			}
			switch k {
			case "location":
				loc = v
			case "offset", "length":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 {
					return nil, false, fmt.Errorf("external_data %s %q is not a byte count", k, v)
				}
				if k == "offset" {
					offset = n
				} else {
					length = n
				}
			}
		case pbTensorLocation:
		default:
			out = append(out, f.raw...)
		}
	}
	if loc == "" || filepath.IsAbs(loc) || strings.Contains(filepath.ToSlash(loc), "..") {
		return nil, false, fmt.Errorf("external_data location %q must be a file name relative to the model", loc)
	}
	fh, ok := files[loc]
	if !ok {
		fh, err = os.Open(filepath.Join(dir, loc))
		if err != nil {
			return nil, false, fmt.Errorf("read external weights: %w", err)
		}
		files[loc] = fh
	}
	if length < 0 {
		st, err := fh.Stat()
		if err != nil {
			return nil, false, fmt.Errorf("read external weights: %w", err)
		}
		length = st.Size() - offset
	}
	if length < 0 || length > 1<<31 {
		return nil, false, fmt.Errorf("external weights %s: bad length %d at offset %d", loc, length, offset)
	}
	data := make([]byte, length)
	if _, err := fh.ReadAt(data, offset); err != nil && !(errors.Is(err, io.EOF) && length == 0) {
		return nil, false, fmt.Errorf("read external weights %s (%d bytes at %d): %w; is the weights file complete?", loc, length, offset, err)
	}
	out = protowire.AppendTag(out, pbTensorRawData, protowire.BytesType)
	out = protowire.AppendBytes(out, data)
	return out, true, nil
}

type pbField struct {
	num     protowire.Number
	typ     protowire.Type
	raw     []byte
	payload []byte
}

func pbFields(b []byte) ([]pbField, error) {
	var out []pbField
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		f := pbField{num: num, typ: typ, raw: b[:n+m]}
		if typ == protowire.BytesType {
			f.payload, _ = protowire.ConsumeBytes(b[n : n+m])
		}
		out = append(out, f)
		b = b[n+m:]
	}
	return out, nil
}

// More ONNX field numbers, for pruning.
const (
	pbGraphNode     = 1  // GraphProto.node
	pbGraphInput    = 11 // GraphProto.input
	pbGraphOutput   = 12 // GraphProto.output
	pbGraphValue    = 13 // GraphProto.value_info
	pbNodeInput     = 1  // NodeProto.input
	pbNodeOutput    = 2  // NodeProto.output
	pbNodeAttribute = 5  // NodeProto.attribute
	pbAttrGraph     = 6  // AttributeProto.g
	pbAttrGraphs    = 11 // AttributeProto.graphs
	pbValueName     = 1  // ValueInfoProto.name
	pbTensorName    = 8  // TensorProto.name
)

// liveNodes walks the graph's nodes backwards (they are in topological
// order) and marks those whose outputs are needed, adding their inputs
// (and their subgraphs' outer inputs) to need as it goes. A value in cut is
// treated as given, so the node producing it is not kept for its sake.
func liveNodes(fs []pbField, need, cut map[string]bool) []bool {
	keep := make([]bool, len(fs))
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		if f.num != pbGraphNode || f.typ != protowire.BytesType {
			continue
		}
		used := false
		for _, o := range pbStrings(f.payload, pbNodeOutput) {
			used = used || (need[o] && !cut[o])
		}
		if !used {
			continue
		}
		keep[i] = true
		for _, in := range pbStrings(f.payload, pbNodeInput) {
			need[in] = true
		}
		for _, in := range subgraphInputs(f.payload) {
			need[in] = true
		}
	}
	return keep
}

// pruneToOutputs rewrites model so that its graph has only the outputs in
// keep and only the nodes and initializers they depend on. ONNX Runtime
// does not drop nodes that feed no requested output (measured on the SAM
// ViT-B decoder: an iou_predictions-only graph that keeps the dead nodes
// still runs the mask upscaling and the full-size Resize), so they are
// removed here. Graph inputs are kept as declared, so callers feed the
// same tensors as before.
func pruneToOutputs(model []byte, keep []string) ([]byte, error) {
	if len(keep) == 0 {
		return nil, errors.New("prune model: no output named")
	}
	top, err := pbFields(model)
	if err != nil {
		return nil, fmt.Errorf("parse ONNX model: %w", err)
	}
	var out []byte
	found := false
	for _, f := range top {
		if f.num != pbModelGraph || f.typ != protowire.BytesType {
			out = append(out, f.raw...)
			continue
		}
		g, err := pruneGraph(f.payload, keep)
		if err != nil {
			return nil, err
		}
		found = true
		out = protowire.AppendTag(out, pbModelGraph, protowire.BytesType)
		out = protowire.AppendBytes(out, g)
	}
	if !found {
		return nil, errors.New("prune model: no graph (is it an ONNX file?)")
	}
	return out, nil
}

func pbStrings(msg []byte, num protowire.Number) []string {
	fs, _ := pbFields(msg)
	var s []string
	for _, f := range fs {
		if f.num == num && f.typ == protowire.BytesType {
			s = append(s, string(f.payload))
		}
	}
	return s
}

func pbString(msg []byte, num protowire.Number) string {
	if s := pbStrings(msg, num); len(s) > 0 {
		return s[0]
	}
	return ""
}

// subgraphInputs lists every tensor name read by nodes of the subgraphs in
// a node's attributes (If, Loop, Scan bodies may read outer-scope values).
func subgraphInputs(node []byte) []string {
	var names []string
	for _, a := range pbStrings(node, pbNodeAttribute) {
		fs, _ := pbFields([]byte(a))
		for _, f := range fs {
			if (f.num == pbAttrGraph || f.num == pbAttrGraphs) && f.typ == protowire.BytesType {
				for _, n := range pbStrings(f.payload, pbGraphNode) {
					names = append(names, pbStrings([]byte(n), pbNodeInput)...)
					names = append(names, subgraphInputs([]byte(n))...)
				}
			}
		}
	}
	return names
}

func pruneGraph(g []byte, keep []string) ([]byte, error) {
	fs, err := pbFields(g)
	if err != nil {
		return nil, fmt.Errorf("parse ONNX graph: %w", err)
	}
	want := map[string]bool{}
	for _, k := range keep {
		want[k] = true
	}
	need := map[string]bool{}
	have := map[string]bool{}
	for _, f := range fs {
		if f.num == pbGraphOutput {
			n := pbString(f.payload, pbValueName)
			if want[n] {
				have[n] = true
				need[n] = true
			}
		}
	}
	for _, k := range keep {
		if !have[k] {
			return nil, fmt.Errorf("prune model: graph has no output %q", k)
		}
	}
	isInput := map[string]bool{}
	for _, f := range fs {
		if f.num == pbGraphInput {
			isInput[pbString(f.payload, pbValueName)] = true
		}
	}
	keepNode := liveNodes(fs, need, nil)
	var out []byte
	for i, f := range fs {
		switch f.num {
		case pbGraphNode:
			if !keepNode[i] {
				continue
			}
		case pbGraphOutput:
			if !want[pbString(f.payload, pbValueName)] {
				continue
			}
		case pbGraphInitializer:
			// An initializer also declared as a graph input (IR < 4
			// models) stays, so that the input need not be fed.
			if n := pbString(f.payload, pbTensorName); !need[n] && !isInput[n] {
				continue
			}
		case pbGraphValue:
			if !need[pbString(f.payload, pbValueName)] {
				continue
			}
		}
		out = append(out, f.raw...)
	}
	return out, nil
}

// Elem type codes of onnx.TensorProto.DataType.
const (
	pbFloat = 1
	pbInt64 = 7
)

// splitFrameConstant cuts a decoder graph for prompts whose tensors always
// have the same shapes (everything mode: one click and the padding point).
// A tensor is prompt-dependent when it is computed from the values of
// promptInputs; Shape and Size read only shapes, so their outputs are not.
// Every other tensor computed from the frame inputs (image embedding,
// mask_input, ...) is the same for every prompt on a frame. The boundary
// lists those frame tensors read by prompt-dependent nodes; pre is the
// graph that computes them from the original inputs, to be run once per
// frame. For the SAM ViT-B decoder this moves the first two-way attention
// layer's image-side projections (a third of the IoU head's work) out of
// the per-prompt graph.
func splitFrameConstant(model []byte, promptInputs []string) (pre []byte, boundary []string, err error) {
	top, err := pbFields(model)
	if err != nil {
		return nil, nil, fmt.Errorf("parse ONNX model: %w", err)
	}
	var graph []byte
	for _, f := range top {
		if f.num == pbModelGraph && f.typ == protowire.BytesType {
			graph = f.payload
		}
	}
	fs, err := pbFields(graph)
	if err != nil || graph == nil {
		return nil, nil, fmt.Errorf("parse ONNX graph: %v", err)
	}
	varT := map[string]bool{}
	for _, s := range promptInputs {
		varT[s] = true
	}
	constT := map[string]bool{} // depends on initializers only
	for _, f := range fs {
		if f.num == pbGraphInitializer {
			constT[pbString(f.payload, pbTensorName)] = true
		}
	}
	type node struct{ ins, outs []string }
	var nodes []node
	for _, f := range fs {
		if f.num != pbGraphNode || f.typ != protowire.BytesType {
			continue
		}
		n := node{ins: pbStrings(f.payload, pbNodeInput), outs: pbStrings(f.payload, pbNodeOutput)}
		op := pbString(f.payload, 4) // NodeProto.op_type
		isVar, isConst := false, true
		for _, in := range n.ins {
			if in == "" {
				continue
			}
			isVar = isVar || varT[in]
			isConst = isConst && constT[in]
		}
		if op == "Shape" || op == "Size" {
			isVar = false
		}
		if sub := subgraphInputs(f.payload); len(sub) > 0 {
			isVar, isConst = true, false
		}
		for _, o := range n.outs {
			if isVar {
				varT[o] = true
			} else if isConst {
				constT[o] = true
			}
		}
		nodes = append(nodes, n)
	}
	for _, f := range fs {
		if f.num == pbGraphOutput {
			if n := pbString(f.payload, pbValueName); !varT[n] {
				return nil, nil, fmt.Errorf("output %q does not depend on the prompt; nothing to split", n)
			}
		}
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		isVar := false
		for _, o := range n.outs {
			isVar = isVar || varT[o]
		}
		if !isVar {
			continue
		}
		for _, in := range n.ins {
			if in != "" && !varT[in] && !constT[in] && !seen[in] {
				seen[in] = true
				boundary = append(boundary, in)
			}
		}
	}
	if len(boundary) == 0 {
		return nil, nil, errors.New("no frame-constant work to split off")
	}
	// pre: the same graph with the boundary as its outputs, pruned.
	g := append([]byte(nil), graph...)
	for _, b := range boundary {
		var vi []byte
		vi = protowire.AppendTag(vi, pbValueName, protowire.BytesType)
		vi = protowire.AppendString(vi, b)
		g = protowire.AppendTag(g, pbGraphOutput, protowire.BytesType)
		g = protowire.AppendBytes(g, vi)
	}
	pre, err = pruneToOutputs(replaceGraph(top, g), boundary)
	return pre, boundary, err
}

func replaceGraph(top []pbField, g []byte) []byte {
	var out []byte
	for _, f := range top {
		if f.num == pbModelGraph {
			out = protowire.AppendTag(out, pbModelGraph, protowire.BytesType)
			out = protowire.AppendBytes(out, g)
		} else {
			out = append(out, f.raw...)
		}
	}
	return out
}

// tensorValueInfo encodes a ValueInfoProto for a dense tensor input.
func tensorValueInfo(name string, elem int, shape []int64) []byte {
	var dims []byte
	for _, d := range shape {
		var dim []byte
		dim = protowire.AppendTag(dim, 1, protowire.VarintType) // Dimension.dim_value
		dim = protowire.AppendVarint(dim, uint64(d))
		dims = protowire.AppendTag(dims, 1, protowire.BytesType) // TensorShapeProto.dim
		dims = protowire.AppendBytes(dims, dim)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType) // Tensor.elem_type
	tt = protowire.AppendVarint(tt, uint64(elem))
	tt = protowire.AppendTag(tt, 2, protowire.BytesType) // Tensor.shape
	tt = protowire.AppendBytes(tt, dims)
	var tp []byte
	tp = protowire.AppendTag(tp, 1, protowire.BytesType) // TypeProto.tensor_type
	tp = protowire.AppendBytes(tp, tt)
	var vi []byte
	vi = protowire.AppendTag(vi, pbValueName, protowire.BytesType)
	vi = protowire.AppendString(vi, name)
	vi = protowire.AppendTag(vi, 2, protowire.BytesType) // ValueInfoProto.type
	vi = protowire.AppendBytes(vi, tp)
	return vi
}

// renameInputs returns node with its inputs renamed by alias.
func renameInputs(node []byte, alias map[string]string) []byte {
	fs, err := pbFields(node)
	if err != nil {
		return node
	}
	var out []byte
	for _, f := range fs {
		if f.num == pbNodeInput && f.typ == protowire.BytesType {
			if to, ok := alias[string(f.payload)]; ok {
				out = protowire.AppendTag(out, pbNodeInput, protowire.BytesType)
				out = protowire.AppendString(out, to)
				continue
			}
		}
		out = append(out, f.raw...)
	}
	return out
}

// promptGraph is the per-prompt half of a split: model pruned to keep, with
// the boundary tensors (of the given ONNX element types and shapes, as the
// pre graph produced them) as inputs instead of computed. Only the inputs
// it still reads are declared. alias maps boundary tensors to an identical
// one (exports that compute the same value twice): reading one name lets
// ONNX Runtime's common-subexpression elimination merge the duplicated
// per-prompt work again, as it does in the unsplit graph.
func promptGraph(model []byte, boundary []string, elems []int, shapes [][]int64, keep []string, alias map[string]string) ([]byte, error) {
	top, err := pbFields(model)
	if err != nil {
		return nil, fmt.Errorf("parse ONNX model: %w", err)
	}
	var graph []byte
	for _, f := range top {
		if f.num == pbModelGraph && f.typ == protowire.BytesType {
			graph = f.payload
		}
	}
	fs, err := pbFields(graph)
	if err != nil {
		return nil, fmt.Errorf("parse ONNX graph: %w", err)
	}
	if len(alias) > 0 {
		for i, f := range fs {
			if f.num == pbGraphNode && f.typ == protowire.BytesType {
				n := renameInputs(f.payload, alias)
				var raw []byte
				raw = protowire.AppendTag(raw, pbGraphNode, protowire.BytesType)
				raw = protowire.AppendBytes(raw, n)
				fs[i] = pbField{num: f.num, typ: f.typ, raw: raw, payload: n}
			}
		}
	}
	isB := map[string]bool{}
	for _, b := range boundary {
		isB[b] = true
	}
	want := map[string]bool{}
	need := map[string]bool{}
	for _, k := range keep {
		want[k] = true
		need[k] = true
	}
	keepNode := liveNodes(fs, need, isB)
	var g []byte
	for i, f := range fs {
		switch f.num {
		case pbGraphNode:
			if !keepNode[i] {
				continue
			}
		case pbGraphInput:
			if !need[pbString(f.payload, pbValueName)] {
				continue
			}
		case pbGraphOutput:
			if !want[pbString(f.payload, pbValueName)] {
				continue
			}
		case pbGraphInitializer:
			if !need[pbString(f.payload, pbTensorName)] {
				continue
			}
		case pbGraphValue:
			if n := pbString(f.payload, pbValueName); !need[n] || isB[n] {
				continue
			}
		}
		g = append(g, f.raw...)
	}
	for i, b := range boundary {
		if !need[b] {
			continue
		}
		g = protowire.AppendTag(g, pbGraphInput, protowire.BytesType)
		g = protowire.AppendBytes(g, tensorValueInfo(b, elems[i], shapes[i]))
	}
	return replaceGraph(top, g), nil
}
