package testgen

import (
	"math"

	"samtrack/models/onnxpb"
)

// decodeCore is the colour-similarity mask decoder shared by the SAM v1 and
// SAM 2 layouts (see the package comment). Inputs: cmap [1,4,256,256]
// (normalised colour and validity), coords [n,N,2] in the 1024 frame,
// labels [n,N], maskIn [n,1,256,256], hasMask [n]. It returns logits
// [n,T,256*256] and iou [n,T]: T = 4 with token 0 (single-mask default)
// first, or T = 3 (tokens 1-3: tight, medium, loose) when token0 is false.
//
// The steps emit their nodes in a fixed order, so the generated model is
// the same byte for byte from run to run.
func decodeCore(b *gb, cmap, coords, labels, maskIn, hasMask string, token0 bool) (logits, iou string) {
	c := colourCells(b, cmap)
	p := promptGeometry(b, coords, labels, hasMask)
	protoQ, varQ := patchPrototypes(b, cmap, p)
	fit := colourFit(b, c, p, maskIn, protoQ, varQ)
	dPos, limit := colourLimits(b, c, p, fit.dist)
	return tokenLogits(b, p, fit, dPos, limit, token0)
}

// decodeColours is the colour map flattened to cells (K = 256²).
type decodeColours struct {
	fr, frT string // colour [1,3,K] and its transpose [1,K,3]
	f2      string // squared colour norm [1,1,K]
	vr      string // validity [1,1,K]
}

func colourCells(b *gb, cmap string) decodeColours {
	fr := b.reshape(b.slice(cmap, 1, 0, 3), 1, 3, cells) // [1,3,K]
	return decodeColours{
		fr:  fr,
		frT: b.transpose(fr, 0, 2, 1),
		f2:  b.sum(b.sq(fr), 1),
		vr:  b.reshape(b.slice(cmap, 1, 3, 4), 1, 1, cells),
	}
}

// decodePrompts is the prompt geometry on the 256 grid: Q = N+1 spatial
// prompts (the points and the box centre) and P = Q+1 prototypes (plus
// the mask's).
type decodePrompts struct {
	px, py                  string // prompt cells [n,Q]
	isPosP, isNegP, spatial string // per prototype [n,P,1]
	hasBox, hasM, zero1     string // [n,1]
	bxl, bxh, byl, byh      string // box bounds [n,1]
}

func promptGeometry(b *gb, coords, labels, hasMask string) decodePrompts {
	// Cell j spans [j, j+1).
	gx := b.mulf(b.addf(b.gather(coords, 2, 0), 0.5), 0.25) // [n,N]
	gy := b.mulf(b.addf(b.gather(coords, 2, 1), 0.5), 0.25)
	isPos := b.eqf(labels, 1)
	isNeg := b.eqf(labels, 0)
	isTL := b.eqf(labels, 2)
	isBR := b.eqf(labels, 3)
	nPos := b.sum(isPos, 1) // [n,1]
	nTL := b.sum(isTL, 1)
	nBR := b.sum(isBR, 1)
	one := b.f(1)
	var p decodePrompts
	p.hasBox = b.mul(b.min(nTL, one), b.min(nBR, one)) // [n,1]
	mean := func(v, w, n string) string { return b.div(b.sum(b.mul(v, w), 1), b.max(n, one)) }
	x0, y0 := mean(gx, isTL, nTL), mean(gy, isTL, nTL)
	x1, y1 := mean(gx, isBR, nBR), mean(gy, isBR, nBR)
	p.bxl, p.bxh = b.min(x0, x1), b.max(x0, x1)
	p.byl, p.byh = b.min(y0, y1), b.max(y0, y1)
	cx := b.mulf(b.add(x0, x1), 0.5)
	cy := b.mulf(b.add(y0, y1), 0.5)
	noPos := b.ltf(nPos, 0.5)
	boxPos := b.mul(p.hasBox, noPos)
	p.hasM = b.reshape(hasMask, -1, 1) // [n,1]
	maskPos := b.mul(b.mul(p.hasM, noPos), b.oneMinus(p.hasBox))
	p.zero1 = b.mulf(p.hasBox, 0) // [n,1] zeros

	p.px = b.concat(1, gx, cx) // [n,Q]
	p.py = b.concat(1, gy, cy)
	p.isPosP = b.unsqueeze(b.concat(1, isPos, boxPos, maskPos), 2) // [n,P,1]
	p.isNegP = b.unsqueeze(b.concat(1, isNeg, p.zero1, p.zero1), 2)
	p.spatial = b.unsqueeze(b.concat(1, b.addf(b.mulf(p.px, 0), spatialCost), p.zero1), 2) // [n,P,1]
	return p
}

// patchPrototypes samples colour patches around each spatial prompt at
// integer cell offsets (so that the spatial weights are constants) and
// returns each prompt's bilateral prototype colour [n,Q,1,3] and its
// colour variance [n,Q,1,1].
func patchPrototypes(b *gb, cmap string, p decodePrompts) (protoQ, varQ string) {
	const rad = 9
	const side = 2*rad + 1
	var offX, offY, wSeed, wProto []float32
	for dy := -rad; dy <= rad; dy++ {
		for dx := -rad; dx <= rad; dx++ {
			r2 := float64(dx*dx + dy*dy)
			offX, offY = append(offX, float32(dx)), append(offY, float32(dy))
			wSeed = append(wSeed, float32(gaussian(r2, seedSigma)))
			wProto = append(wProto, float32(gaussian(r2, protoSigma)))
		}
	}
	norm := func(p string, off []float32) string { // [n,Q] cells -> [n,Q,side²,1] GridSample x or y
		at := b.add(b.unsqueeze(p, 2), b.g.Const(onnxpb.F32(off, 1, 1, side*side)))
		return b.unsqueeze(b.addf(b.mulf(at, 2.0/grid), -1), 3)
	}
	sampleGrid := b.reshape(b.concat(3, norm(p.px, offX), norm(p.py, offY)), 1, -1, side*side, 2)
	patches := b.g.OpA("GridSample", []string{cmap, sampleGrid},
		onnxpb.AttrString("mode", "bilinear"), onnxpb.AttrString("padding_mode", "zeros"),
		onnxpb.AttrInt("align_corners", 0)) // [1,4,n*Q,side²]
	pshape := b.concat(0, b.ints(4), b.shape(p.px), b.ints(side*side))
	patches = b.transpose(b.g.Op("Reshape", patches, pshape), 1, 2, 3, 0) // [n,Q,side²,4]
	pc := b.slice(patches, 3, 0, 3)
	pv := b.slice(patches, 3, 3, 4)
	wmean := func(w string) (string, string) { // weights [n,Q,side²,1]
		s := b.addf(b.sum(w, 2), 1e-6)
		return b.div(b.sum(b.mul(w, pc), 2), s), s // [n,Q,1,3], [n,Q,1,1]
	}
	c0, _ := wmean(b.mul(b.g.Const(onnxpb.F32(wSeed, 1, 1, side*side, 1)), pv))
	bil := b.exp(b.mulf(b.sum(b.sq(b.sub(pc, c0)), 3), -1/(2*colourSigma*colourSigma)))
	wb := b.mul(b.mul(b.g.Const(onnxpb.F32(wProto, 1, 1, side*side, 1)), pv), bil)
	protoQ, sb := wmean(wb)
	varQ = b.div(b.sum(b.mul(wb, b.sum(b.sq(b.sub(pc, protoQ)), 3)), 2), sb) // [n,Q,1,1]
	return protoQ, varQ
}

// decodeFit is every cell's colour distance to every prototype.
type decodeFit struct {
	dist  string // [n,P,K]
	sigma string // prototype colour spread [n,P,1]
	mr    string // mask input [n,1,K]
	hasM3 string // [n,1,1]
}

// colourFit adds the mask's prototype (its weighted mean colour) to the
// prompts' and measures each cell's colour distance to all of them.
func colourFit(b *gb, c decodeColours, p decodePrompts, maskIn, protoQ, varQ string) decodeFit {
	hasM3 := b.unsqueeze(p.hasM, 2)                           // [n,1,1]
	mr := b.reshape(maskIn, 0, 1, cells)                      // [n,1,K]
	wm := b.mul(b.mul(b.sigmoid(mr), c.vr), hasM3)            // [n,1,K]
	sm := b.addf(b.sum(wm, 2), 1e-6)                          // [n,1,1]
	protoM := b.div(b.matmul(wm, c.frT), sm)                  // [n,1,3]
	protos := b.concat(1, b.reshape(protoQ, 0, 0, 3), protoM) // [n,P,3]

	cross := b.matmul(protos, c.fr)                                               // [n,P,K]
	dist2 := b.relu(b.add(b.sub(c.f2, b.mulf(cross, 2)), b.sum(b.sq(protos), 2))) // [n,P,K]
	varM := b.div(b.sum(b.mul(wm, b.slice(dist2, 1, -1, cells)), 2), sm)          // [n,1,1]
	sigma := b.sqrt(b.concat(1, b.reshape(varQ, 0, 0, 1), varM))                  // [n,P,1]
	return decodeFit{dist: b.sqrt(dist2), sigma: sigma, mr: mr, hasM3: hasM3}
}

// colourLimits returns the colour distance to the nearest positive
// prototype dPos [n,1,K] and the limit [n,1,K] on the mask's reach: the
// positive/negative competition in colour + spatialCost·cells, capped by
// the box.
func colourLimits(b *gb, c decodeColours, p decodePrompts, dist string) (dPos, limit string) {
	colX := b.g.Const(onnxpb.F32(cellCentres(), 1, 1, 1, grid))
	rowY := b.g.Const(onnxpb.F32(cellCentres(), 1, 1, grid, 1))
	pxP := b.unsqueeze(b.concat(1, p.px, p.zero1), 2, 3) // [n,P,1,1]
	pyP := b.unsqueeze(b.concat(1, p.py, p.zero1), 2, 3)
	r := b.sqrt(b.reshape(b.add(b.sq(b.sub(colX, pxP)), b.sq(b.sub(rowY, pyP))), 0, 0, cells)) // [n,P,K]
	e := b.add(dist, b.mul(r, p.spatial))
	notPos := b.mulf(b.oneMinus(p.isPosP), big) // [n,P,1]
	notNeg := b.mulf(b.oneMinus(p.isNegP), big)
	invalid := b.mulf(b.oneMinus(c.vr), maxDist)                               // [1,1,K]
	dPos = b.min(b.add(b.rmin(b.add(dist, notPos), 1), invalid), b.f(maxDist)) // [n,1,K]
	comp := b.clip(b.sub(b.rmin(b.add(e, notNeg), 1), b.rmin(b.add(e, notPos), 1)), -maxDist, maxDist)

	// Box limit.
	gxk := b.reshape(b.add(colX, b.mulf(rowY, 0)), 1, 1, cells) // cell centre x, [1,1,K]
	gyk := b.reshape(b.add(rowY, b.mulf(colX, 0)), 1, 1, cells)
	u3 := func(v string) string { return b.unsqueeze(v, 2) } // [n,1] -> [n,1,1]
	inside := b.min(b.sub(gxk, u3(p.bxl)), b.sub(u3(p.bxh), gxk), b.sub(gyk, u3(p.byl)), b.sub(u3(p.byh), gyk))
	boxT := b.add(b.clip(b.addf(inside, boxSlack), -maxDist, maxDist), b.mulf(b.oneMinus(u3(p.hasBox)), big))
	return dPos, b.min(comp, boxT)
}

// tokenLogits turns the distances into each token's logits: a token keeps
// the cells within its colour radius tau, and token 0 adapts its radius to
// the colour spread around the prompt. Confidence is the squashed
// normalised margin over the mask, per cell of mask-or-near-miss.
func tokenLogits(b *gb, p decodePrompts, fit decodeFit, dPos, limit string, token0 bool) (logits, iou string) {
	tauMulti := b.add(b.g.Const(onnxpb.F32([]float32{TauTight, TauMedium, TauLoose}, 1, 3, 1)), b.mulf(fit.hasM3, 0))
	tau := tauMulti
	if token0 {
		sigMax := b.rmax(b.mul(fit.sigma, p.isPosP), 1) // [n,1,1]
		tau0 := b.clip(b.addf(b.mulf(sigMax, tau0PerSigma), tau0Base), tau0Base, TauLoose)
		tau = b.concat(1, tau0, tauMulti) // [n,T,1]
	}

	margin := b.min(b.sub(tau, dPos), limit) // [n,T,K]
	logits = b.add(b.mulf(margin, LogitScale), b.mul(b.mulf(fit.hasM3, MaskInputWeight), fit.mr))

	u := b.mul(logits, b.div(b.f(1.0/LogitScale), tau))
	num := b.sum(b.relu(b.tanh(b.mulf(u, confSlope))), 2)
	band := b.sum(b.gtf(u, confBand), 2)
	iou = b.squeeze(b.div(num, b.addf(band, 1)), 2) // [n,T]
	return logits, iou
}

func gaussian(r2, sigma float64) float64 { return math.Exp(-r2 / (2 * sigma * sigma)) }

func cellCentres() []float32 {
	c := make([]float32, grid)
	for i := range c {
		c[i] = float32(i) + 0.5
	}
	return c
}

// SAMDecoder is the SAM v1 decoder in the official ONNX layout. Inputs:
// image_embeddings [1,256,64,64], point_coords [1,N,2] (1024 frame),
// point_labels [1,N], mask_input [1,1,256,256], has_mask_input [1],
// orig_im_size [2] (H, W). Outputs: masks [1,C,H,W] logits at the original
// size, iou_predictions [1,C], low_res_masks [1,C,256,256]. C = 4 (token 0
// single-mask, tokens 1-3 multimask); with single, C = 1 chosen by the
// official select_masks rule (token 0 scores iou + (N-2.5)·1000, tokens 1-3
// their iou; argmax).
func SAMDecoder(single bool) ([]byte, error) {
	name := "samtrack_testgen_sam_decoder"
	if single {
		name += "_single"
	}
	b := newGB(name)
	emb := b.g.Input("image_embeddings", onnxpb.Float, 1, 256, 64, 64)
	coords := b.g.Input("point_coords", onnxpb.Float, 1, "num_points", 2)
	labels := b.g.Input("point_labels", onnxpb.Float, 1, "num_points")
	maskIn := b.g.Input("mask_input", onnxpb.Float, 1, 1, 256, 256)
	hasMask := b.g.Input("has_mask_input", onnxpb.Float, 1)
	orig := b.g.Input("orig_im_size", onnxpb.Float, 2)

	logits, iou := decodeCore(b, unembed(b, emb), coords, labels, maskIn, hasMask, true)
	low := b.reshape(logits, 1, 4, grid, grid)
	c := int64(4)
	if single {
		c = 1
		nPts := b.cast(b.gather(b.shape(coords), 0, 1), onnxpb.Float)
		reweight := b.g.Floats(1000, 0, 0, 0)
		score := b.add(iou, b.mul(b.addf(nPts, -2.5), reweight))
		best := b.g.OpA("ArgMax", []string{score}, onnxpb.AttrInt("axis", 1), onnxpb.AttrInt("keepdims", 0)) // [1]
		low = b.g.OpA("Gather", []string{low, best}, onnxpb.AttrInt("axis", 1))
		iou = b.g.OpA("Gather", []string{iou, best}, onnxpb.AttrInt("axis", 1))
	}

	// Official postprocessing: upsample to 1024, crop the resized image,
	// resize to the original size.
	up := b.resizeLinear(low, b.g.Floats(1, 1, 4, 4), "")
	scale := b.div(b.f(1024), b.rmax(orig, 0))
	resized := b.cast(b.floor(b.addf(b.mul(orig, scale), 0.5)), onnxpb.Int64) // [2]
	crop := b.g.Op("Slice", up, b.ints(0, 0), resized, b.ints(2, 3))
	sizes := b.concat(0, b.ints(1, c), b.cast(orig, onnxpb.Int64))
	masks := b.resizeLinear(crop, "", sizes)

	b.g.Output("masks", masks, onnxpb.Float, "batch", "num_masks", "height", "width")
	b.g.Output("iou_predictions", iou, onnxpb.Float, "batch", int(c))
	b.g.Output("low_res_masks", low, onnxpb.Float, "batch", "num_masks", "low_res_height", "low_res_width")
	return wrap("SAM decoder", b)
}

// SAM2Decoder is the SAM 2 decoder in samexporter's layout. Inputs:
// image_embed [1,256,64,64], high_res_feats_0 [1,32,256,256],
// high_res_feats_1 [1,64,128,128], point_coords [n,N,2] (1024×1024 frame),
// point_labels [n,N], mask_input [n,1,256,256], has_mask_input [n]. The
// padding point (0,0,-1) is appended inside. Outputs: masks [n,3,256,256]
// (the multimask tokens' low-res logits clamped to ±32) and
// iou_predictions [n,3].
func SAM2Decoder() ([]byte, error) {
	b := newGB("samtrack_testgen_sam2_decoder")
	b.g.Input("image_embed", onnxpb.Float, 1, 256, 64, 64)
	feats0 := b.g.Input("high_res_feats_0", onnxpb.Float, 1, 32, 256, 256)
	b.g.Input("high_res_feats_1", onnxpb.Float, 1, 64, 128, 128)
	coords := b.g.Input("point_coords", onnxpb.Float, "num_labels", "num_points", 2)
	labels := b.g.Input("point_labels", onnxpb.Float, "num_labels", "num_points")
	maskIn := b.g.Input("mask_input", onnxpb.Float, "num_labels", 1, 256, 256)
	hasMask := b.g.Input("has_mask_input", onnxpb.Float, "num_labels")

	// Append the padding point, as samexporter's SAM 2 decoder does.
	n := b.g.Op("Slice", b.shape(coords), b.ints(0), b.ints(1)) // [1] = n
	padPt := b.g.OpA("ConstantOfShape", []string{b.concat(0, n, b.ints(1, 2))},
		onnxpb.AttrTensor("value", onnxpb.F32([]float32{0}, 1)))
	padLab := b.g.OpA("ConstantOfShape", []string{b.concat(0, n, b.ints(1))},
		onnxpb.AttrTensor("value", onnxpb.F32([]float32{-1}, 1)))
	coords = b.concat(1, coords, padPt)
	labels = b.concat(1, labels, padLab)

	logits, iou := decodeCore(b, b.slice(feats0, 1, 0, 4), coords, labels, maskIn, hasMask, false)
	masks := b.clip(b.reshape(logits, 0, 3, grid, grid), -32, 32)
	b.g.Output("masks", masks, onnxpb.Float, "num_labels", 3, 256, 256)
	b.g.Output("iou_predictions", iou, onnxpb.Float, "num_labels", 3)
	return wrap("SAM 2 decoder", b)
}
