package flow

import (
	"image"
	"math"
)

// colourBits is the number of bits kept per RGB channel for the colour
// histograms.
const (
	colourBits = 4
	colourBins = 1 << (3 * colourBits)
)

// colourModel holds the colour log-likelihood ratio of one object against
// its surroundings, learned on the reference frame.
type colourModel struct {
	llr [colourBins]float32
}

// colourBin quantises the colour of pixel i of a packed RGB24 image.
func colourBin(rgb []byte, i int) int {
	const s = 8 - colourBits
	j := 3 * i
	return int(rgb[j]>>s)<<(2*colourBits) | int(rgb[j+1]>>s)<<colourBits | int(rgb[j+2]>>s)
}

// learn builds the model from the histograms of the pixels of id
// (foreground) and of the other pixels inside region (background); the
// ratio is bounded by ±clamp.
func (c *colourModel) learn(rgb []byte, labels []uint16, id uint16, region image.Rectangle, w int, clamp float32) {
	var fg, bg [colourBins]float32
	var nf, nb float32
	for y := region.Min.Y; y < region.Max.Y; y++ {
		for i := y*w + region.Min.X; i < y*w+region.Max.X; i++ {
			if labels[i] == id {
				fg[colourBin(rgb, i)]++
				nf++
			} else {
				bg[colourBin(rgb, i)]++
				nb++
			}
		}
	}
	nf, nb = max(nf, 1), max(nb, 1)
	const eps = 1e-4 // a colour never seen on either side has ratio 0
	for i := range c.llr {
		r := math.Log(float64((fg[i]/nf + eps) / (bg[i]/nb + eps)))
		c.llr[i] = min(clamp, max(-clamp, float32(r)))
	}
}
