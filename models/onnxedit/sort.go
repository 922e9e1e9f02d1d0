package onnxedit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"samtrack/models/onnxpb"
)

// SortAndPrune orders the nodes topologically (stable) and drops the
// nodes, initializers and graph inputs that no output depends on.
func (g *Graph) SortAndPrune() error {
	g.index()
	need, keepNode := g.neededFromOutputs()
	sorted, avail, err := g.topoSort(keepNode)
	if err != nil {
		return err
	}
	for _, o := range g.OutputNames() {
		if !avail[o] {
			return fmt.Errorf("graph output %s is not computed", o)
		}
	}
	g.Nodes = sorted
	g.initSeq = slices.DeleteFunc(g.initSeq, func(n string) bool {
		if need[n] {
			return false
		}
		delete(g.inits, n)
		return true
	})
	g.inputs = slices.DeleteFunc(g.inputs, func(b []byte) bool { return !need[onnxpb.String(b, onnxpb.FieldValueName)] })
	g.index()
	return nil
}

// neededFromOutputs walks back from the outputs: the tensors and nodes
// they depend on.
func (g *Graph) neededFromOutputs() (map[string]bool, map[*onnxpb.Node]bool) {
	need := map[string]bool{}
	for _, o := range g.OutputNames() {
		need[o] = true
	}
	stack := slices.Clone(g.OutputNames())
	keepNode := map[*onnxpb.Node]bool{}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p := g.prod[t]
		if p == nil || keepNode[p] {
			continue
		}
		keepNode[p] = true
		for _, in := range p.In {
			if in != "" && !need[in] {
				need[in] = true
				stack = append(stack, in)
			}
		}
	}
	return need, keepNode
}

// topoSort orders the kept nodes so that each follows its inputs, keeping
// the original order where it can; avail is every tensor then defined.
func (g *Graph) topoSort(keepNode map[*onnxpb.Node]bool) ([]*onnxpb.Node, map[string]bool, error) {
	avail := map[string]bool{"": true}
	for _, in := range g.InputNames() {
		avail[in] = true
	}
	for _, n := range g.initSeq {
		avail[n] = true
	}
	pending := slices.DeleteFunc(slices.Clone(g.Nodes), func(n *onnxpb.Node) bool { return !keepNode[n] })
	sorted := make([]*onnxpb.Node, 0, len(pending))
	for len(pending) > 0 {
		progress := false
		rest := pending[:0]
		for _, n := range pending {
			ready := true
			for _, in := range n.In {
				ready = ready && avail[in]
			}
			if !ready {
				rest = append(rest, n)
				continue
			}
			sorted = append(sorted, n)
			for _, o := range n.Out {
				avail[o] = true
			}
			progress = true
		}
		pending = rest
		if !progress {
			return nil, nil, fmt.Errorf("graph has a cycle or an undefined input at node %s (%s)", pending[0].Name, pending[0].Op)
		}
	}
	return sorted, avail, nil
}

// CSE merges nodes that compute the same thing from the same inputs (the
// official SAM export runs the mask decoder twice, once for the
// single-mask and once for the multimask output, with a copy of every
// transposed weight for each run). Identity nodes are bypassed and
// initializers with equal contents merged first. The nodes must be sorted.
func (g *Graph) CSE() {
	isOut := map[string]bool{}
	for _, o := range g.OutputNames() {
		isOut[o] = true
	}
	rename := g.equalInits()
	g.bypassIdentities(rename, isOut)
	seen := map[string]*onnxpb.Node{}
	var kept []*onnxpb.Node
	for _, n := range g.Nodes {
		for i, in := range n.In {
			if to, ok := rename[in]; ok {
				n.In[i] = to
			}
		}
		k := nodeKey(n)
		graphOut := strings.HasPrefix(n.Op, "Random") || n.Op == "Multinomial" || n.Op == "Bernoulli" // never merged
		for _, o := range n.Out {
			graphOut = graphOut || isOut[o]
		}
		if prev, ok := seen[k]; ok && !graphOut && len(n.Out) > 0 {
			for i, o := range n.Out {
				rename[o] = prev.Out[i]
			}
			continue
		}
		if !graphOut {
			seen[k] = n
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
	g.index()
}

// equalInits maps each initializer (not a graph input) to the first one
// with the same contents.
func (g *Graph) equalInits() map[string]string {
	isIn := map[string]bool{}
	for _, in := range g.InputNames() {
		isIn[in] = true
	}
	rename := map[string]string{}
	byContent := map[string]string{}
	for _, n := range g.initSeq {
		if isIn[n] {
			continue
		}
		fs, err := onnxpb.Fields(g.inits[n])
		if err != nil {
			continue
		}
		var key []byte
		for _, f := range fs {
			if f.Num != onnxpb.FieldTensorName {
				key = append(key, f.Raw...)
			}
		}
		if first, ok := byContent[string(key)]; ok {
			rename[n] = first
		} else {
			byContent[string(key)] = n
		}
	}
	return rename
}

// bypassIdentities drops Identity nodes that do not compute a graph
// output, recording in rename that their output is their input.
func (g *Graph) bypassIdentities(rename map[string]string, isOut map[string]bool) {
	nodes := g.Nodes[:0]
	for _, n := range g.Nodes {
		if n.Op == "Identity" && n.Domain == "" && len(n.In) == 1 && len(n.Out) == 1 && !isOut[n.Out[0]] {
			src := n.In[0]
			if to, ok := rename[src]; ok {
				src = to
			}
			rename[n.Out[0]] = src
			continue
		}
		nodes = append(nodes, n)
	}
	g.Nodes = nodes
}

// nodeKey identifies what a node computes: domain, op, inputs, output
// count and attributes.
func nodeKey(n *onnxpb.Node) string {
	var key strings.Builder
	key.WriteString(n.Domain + "\x00" + n.Op + "\x00")
	for _, in := range n.In {
		key.WriteString(in + "\x00")
	}
	key.WriteString(strconv.Itoa(len(n.Out)) + "\x00")
	for _, a := range n.Attrs {
		key.Write(a)
		key.WriteString("\x00")
	}
	return key.String()
}
