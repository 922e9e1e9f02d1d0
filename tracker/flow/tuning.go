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
	if name == "sigma" {
		t.priorSigma = v
		return true
	}
	f, ok := map[string]*float32{
		"lo": &t.priorLo, "hi": &t.priorHi, "cw": &t.colourWeight, "occ": &t.occPrior,
		"fba": &t.fbAlpha, "fbb": &t.fbBeta, "lt": &t.ltWeight,
		"island": &t.islandFrac, "hole": &t.holeFrac, "clamp": &t.llrClamp,
	}[name]
	if ok {
		*f = float32(v)
	}
	return ok
}
