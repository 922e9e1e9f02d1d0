package flow

// tuning holds the internal parameters of the fusion; tests may change them.
type tuning struct {
	priorSigma   float64 // blur of the warped prior, pixels
	priorLo      float32 // prior below which a pixel is background outright
	priorHi      float32 // prior above which a pixel is the object outright
	colourWeight float32 // weight of the colour log-likelihood ratio
	llrClamp     float32 // bound of the colour log-likelihood ratio
	occPrior     float32 // factor on the short-term prior where the flows disagree
	fbAlpha      float32 // consistency test: |f+b|² > fbAlpha(|f|²+|b|²) + fbBeta
	fbBeta       float32 // in squared pixels at flow resolution
	ltWeight     float32 // weight of the reference warp where its flows agree; 0 skips it
	islandFrac   float32 // islands smaller than this fraction of the largest part are dropped
	holeFrac     float32 // holes up to this fraction of the area are filled
}

func defaultTuning() tuning {
	return tuning{
		priorSigma:   3,
		priorLo:      0.01,
		priorHi:      0.99,
		colourWeight: 1.5,
		llrClamp:     4,
		occPrior:     0.3,
		fbAlpha:      0.01,
		fbBeta:       2,
		ltWeight:     0.5,
		islandFrac:   0.02,
		holeFrac:     0.01,
	}
}

// set changes one tuning parameter by name (development harness).
func (t *tuning) set(name string, v float64) bool {
	switch name {
	case "sigma":
		t.priorSigma = v
	case "lo":
		t.priorLo = float32(v)
	case "hi":
		t.priorHi = float32(v)
	case "cw":
		t.colourWeight = float32(v)
	case "occ":
		t.occPrior = float32(v)
	case "fba":
		t.fbAlpha = float32(v)
	case "fbb":
		t.fbBeta = float32(v)
	case "lt":
		t.ltWeight = float32(v)
	case "island":
		t.islandFrac = float32(v)
	case "hole":
		t.holeFrac = float32(v)
	case "clamp":
		t.llrClamp = float32(v)
	default:
		return false
	}
	return true
}
