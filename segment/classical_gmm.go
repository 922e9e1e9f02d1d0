//go:build !nogocv

package segment

import (
	"math"
	"math/rand/v2"
)

// gmmK is the number of components of a colour model, as in cv::grabCut.
const gmmK = 5

// gmm is a Gaussian mixture over RGB colours, GrabCut's colour model of
// one class (Rother et al., SIGGRAPH 2004).
type gmm struct {
	weight [gmmK]float64
	mean   [gmmK][3]float64
	inv    [gmmK][9]float64 // inverse covariance
	norm   [gmmK]float64    // weight / √det(covariance)
}

// prob is the mixture's density at c (up to the shared (2π)^-3/2).
func (g *gmm) prob(c [3]float64) float64 {
	p := 0.0
	for k := range gmmK {
		if g.norm[k] > 0 {
			p += g.norm[k] * math.Exp(-0.5*g.mahalanobis(k, c))
		}
	}
	return p
}

// component is the component most likely to have drawn c.
func (g *gmm) component(c [3]float64) int {
	best, bp := 0, -1.0
	for k := range gmmK {
		if g.norm[k] > 0 {
			if p := g.norm[k] * math.Exp(-0.5*g.mahalanobis(k, c)); p > bp {
				best, bp = k, p
			}
		}
	}
	return best
}

func (g *gmm) mahalanobis(k int, c [3]float64) float64 {
	d0, d1, d2 := c[0]-g.mean[k][0], c[1]-g.mean[k][1], c[2]-g.mean[k][2]
	m := &g.inv[k]
	return d0*(d0*m[0]+d1*m[3]+d2*m[6]) + d1*(d0*m[1]+d1*m[4]+d2*m[7]) + d2*(d0*m[2]+d1*m[5]+d2*m[8])
}

// gmmStats accumulates colours per component for fitting a gmm.
type gmmStats struct {
	n     [gmmK]float64
	sum   [gmmK][3]float64
	prod  [gmmK][9]float64
	total float64
}

func (st *gmmStats) add(k int, c [3]float64) {
	st.n[k]++
	st.total++
	for a := range 3 {
		st.sum[k][a] += c[a]
		for b := range 3 {
			st.prod[k][a*3+b] += c[a] * c[b]
		}
	}
}

// fit estimates the mixture from colours labelled with their component.
func (g *gmm) fit(cols [][3]float64, comp []int) {
	var st gmmStats
	for i, c := range cols {
		st.add(comp[i], c)
	}
	g.fitStats(&st)
}

// fitStats estimates the mixture from accumulated colours.
func (g *gmm) fitStats(st *gmmStats) {
	*g = gmm{}
	for k := range gmmK {
		n := st.n[k]
		if n == 0 {
			continue
		}
		var cov [9]float64
		for a := range 3 {
			g.mean[k][a] = st.sum[k][a] / n
		}
		for a := range 3 {
			for b := range 3 {
				cov[a*3+b] = st.prod[k][a*3+b]/n - g.mean[k][a]*g.mean[k][b]
			}
		}
		det := det3(cov)
		if det <= 1e-6 {
			// A flat component (one colour): widen it, as cv::grabCut does.
			cov[0], cov[4], cov[8] = cov[0]+0.01, cov[4]+0.01, cov[8]+0.01
			det = det3(cov)
		}
		g.weight[k] = n / st.total
		g.inv[k] = inv3(cov, det)
		g.norm[k] = g.weight[k] / math.Sqrt(det)
	}
}

func det3(c [9]float64) float64 {
	return c[0]*(c[4]*c[8]-c[5]*c[7]) - c[1]*(c[3]*c[8]-c[5]*c[6]) + c[2]*(c[3]*c[7]-c[4]*c[6])
}

func inv3(c [9]float64, det float64) [9]float64 {
	return [9]float64{
		(c[4]*c[8] - c[5]*c[7]) / det, (c[2]*c[7] - c[1]*c[8]) / det, (c[1]*c[5] - c[2]*c[4]) / det,
		(c[5]*c[6] - c[3]*c[8]) / det, (c[0]*c[8] - c[2]*c[6]) / det, (c[2]*c[3] - c[0]*c[5]) / det,
		(c[3]*c[7] - c[4]*c[6]) / det, (c[1]*c[6] - c[0]*c[7]) / det, (c[0]*c[4] - c[1]*c[3]) / det,
	}
}

// kmeansComponents splits colours into gmmK clusters by k-means (k-means++
// seeding from a fixed random stream, so that a prompt always gives the
// same mask, then ten Lloyd rounds, as cv::grabCut's initialisation).
func kmeansComponents(cols [][3]float64) []int {
	comp := make([]int, len(cols))
	if len(cols) == 0 {
		return comp
	}
	r := rand.New(rand.NewPCG(1, 2))
	centres := [][3]float64{cols[r.IntN(len(cols))]}
	d := make([]float64, len(cols))
	for len(centres) < gmmK {
		total := 0.0
		for i, c := range cols {
			d[i] = nearest(centres, c)
			total += d[i]
		}
		if total == 0 {
			break
		}
		pick, acc := r.Float64()*total, 0.0
		next := len(cols) - 1
		for i := range cols {
			if acc += d[i]; acc >= pick {
				next = i
				break
			}
		}
		centres = append(centres, cols[next])
	}
	for range 10 {
		var sum [gmmK][3]float64
		var n [gmmK]float64
		for i, c := range cols {
			k := nearestIndex3(centres, c)
			comp[i] = k
			n[k]++
			sum[k][0], sum[k][1], sum[k][2] = sum[k][0]+c[0], sum[k][1]+c[1], sum[k][2]+c[2]
		}
		for k := range centres {
			if n[k] > 0 {
				centres[k] = [3]float64{sum[k][0] / n[k], sum[k][1] / n[k], sum[k][2] / n[k]}
			}
		}
	}
	return comp
}

func sq3(a, b [3]float64) float64 {
	d0, d1, d2 := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return d0*d0 + d1*d1 + d2*d2
}

func nearest(centres [][3]float64, c [3]float64) float64 {
	return sq3(centres[nearestIndex3(centres, c)], c)
}

func nearestIndex3(centres [][3]float64, c [3]float64) int {
	best, bd := 0, math.Inf(1)
	for k, m := range centres {
		if d := sq3(m, c); d < bd {
			best, bd = k, d
		}
	}
	return best
}
