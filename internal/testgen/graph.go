package testgen

import (
	"samtrack/models/onnxpb"
)

// gb wraps onnxpb.Graph with the handful of opset-17 operators the test
// models use, so that the model code reads like the maths it implements.
type gb struct {
	g       *onnxpb.Graph
	scalars map[float32]string
}

func newGB(name string) *gb { return &gb{g: onnxpb.NewGraph(name), scalars: map[float32]string{}} }

// f is a rank-0 float constant (shared between uses).
func (b *gb) f(v float32) string {
	if n, ok := b.scalars[v]; ok {
		return n
	}
	n := b.g.Scalar(v)
	b.scalars[v] = n
	return n
}

func (b *gb) ints(v ...int64) string { return b.g.Ints(v...) }

// i0 is a rank-0 int64 constant (a Gather index that drops the axis).
func (b *gb) i0(v int64) string { return b.g.Const(onnxpb.I64([]int64{v})) }

func (b *gb) add(x, y string) string { return b.g.Op("Add", x, y) }
func (b *gb) sub(x, y string) string { return b.g.Op("Sub", x, y) }
func (b *gb) mul(x, y string) string { return b.g.Op("Mul", x, y) }
func (b *gb) div(x, y string) string { return b.g.Op("Div", x, y) }
func (b *gb) addf(x string, v float32) string {
	return b.add(x, b.f(v))
}
func (b *gb) mulf(x string, v float32) string { return b.mul(x, b.f(v)) }
func (b *gb) min(xs ...string) string         { return b.g.Op("Min", xs...) }
func (b *gb) max(xs ...string) string         { return b.g.Op("Max", xs...) }
func (b *gb) exp(x string) string             { return b.g.Op("Exp", x) }
func (b *gb) sqrt(x string) string            { return b.g.Op("Sqrt", x) }
func (b *gb) relu(x string) string            { return b.g.Op("Relu", x) }
func (b *gb) tanh(x string) string            { return b.g.Op("Tanh", x) }
func (b *gb) sigmoid(x string) string         { return b.g.Op("Sigmoid", x) }
func (b *gb) abs(x string) string             { return b.g.Op("Abs", x) }
func (b *gb) floor(x string) string           { return b.g.Op("Floor", x) }
func (b *gb) sq(x string) string              { return b.mul(x, x) }
func (b *gb) matmul(x, y string) string       { return b.g.Op("MatMul", x, y) }
func (b *gb) shape(x string) string           { return b.g.Op("Shape", x) }

// oneMinus is 1 - x.
func (b *gb) oneMinus(x string) string { return b.sub(b.f(1), x) }

func (b *gb) clip(x string, lo, hi float32) string { return b.g.Op("Clip", x, b.f(lo), b.f(hi)) }

func (b *gb) cast(x string, to onnxpb.DType) string {
	return b.g.OpA("Cast", []string{x}, onnxpb.AttrInt("to", int64(to)))
}

// eqf is the float indicator x == v.
func (b *gb) eqf(x string, v float32) string { return b.cast(b.g.Op("Equal", x, b.f(v)), onnxpb.Float) }

// gtf is the float indicator x > v.
func (b *gb) gtf(x string, v float32) string {
	return b.cast(b.g.Op("Greater", x, b.f(v)), onnxpb.Float)
}

// ltf is the float indicator x < v.
func (b *gb) ltf(x string, v float32) string { return b.cast(b.g.Op("Less", x, b.f(v)), onnxpb.Float) }

func (b *gb) reshape(x string, dims ...int64) string { return b.g.Op("Reshape", x, b.ints(dims...)) }
func (b *gb) unsqueeze(x string, axes ...int64) string {
	return b.g.Op("Unsqueeze", x, b.ints(axes...))
}
func (b *gb) squeeze(x string, axes ...int64) string { return b.g.Op("Squeeze", x, b.ints(axes...)) }
func (b *gb) transpose(x string, perm ...int64) string {
	return b.g.OpA("Transpose", []string{x}, onnxpb.AttrInts("perm", perm...))
}
func (b *gb) concat(axis int64, xs ...string) string {
	return b.g.OpA("Concat", xs, onnxpb.AttrInt("axis", axis))
}

// slice takes [start, end) along one axis.
func (b *gb) slice(x string, axis, start, end int64) string {
	return b.g.Op("Slice", x, b.ints(start), b.ints(end), b.ints(axis))
}

// gather picks index idx (dropping the axis) along axis.
func (b *gb) gather(x string, axis, idx int64) string {
	return b.g.OpA("Gather", []string{x, b.i0(idx)}, onnxpb.AttrInt("axis", axis))
}

// sum is ReduceSum over axes, keeping them.
func (b *gb) sum(x string, axes ...int64) string { return b.g.Op("ReduceSum", x, b.ints(axes...)) }

// rmin and rmax reduce over axes, keeping them (opset 17 takes the axes as
// an attribute).
func (b *gb) rmin(x string, axes ...int64) string {
	return b.g.OpA("ReduceMin", []string{x}, onnxpb.AttrInts("axes", axes...))
}
func (b *gb) rmax(x string, axes ...int64) string {
	return b.g.OpA("ReduceMax", []string{x}, onnxpb.AttrInts("axes", axes...))
}

// avgPool is a k×k average pool with stride k.
func (b *gb) avgPool(x string, k int64) string {
	return b.g.OpA("AveragePool", []string{x}, onnxpb.AttrInts("kernel_shape", k, k), onnxpb.AttrInts("strides", k, k))
}

// padChannels zero-pads axis 1 of an NCHW tensor by extra channels.
func (b *gb) padChannels(x string, extra int64) string {
	return b.g.Op("Pad", x, b.ints(0, 0, 0, 0, 0, extra, 0, 0))
}

// resizeLinear is PyTorch's F.interpolate(mode="bilinear",
// align_corners=False) to the given scales or sizes (one of them "").
func (b *gb) resizeLinear(x, scales, sizes string) string {
	return b.g.OpA("Resize", []string{x, "", scales, sizes},
		onnxpb.AttrString("mode", "linear"),
		onnxpb.AttrString("coordinate_transformation_mode", "pytorch_half_pixel"))
}

func (b *gb) model() ([]byte, error) { return b.g.Model() }
