package inpaint

import (
	"gocv.io/x/gocv"
)

// backgroundHomography fits, with RANSAC, the homography that maps each
// grid point x outside exclude to x + flow(x): the background's motion
// between two frames. ok is false when too few points are left or no
// homography fits.
func backgroundHomography(fl []float32, exclude []uint8, w, h int) (hm [9]float64, ok bool) {
	step := max(2, min(w, h)/60)
	var pts []float32
	for y := step / 2; y < h; y += step {
		for x := step / 2; x < w; x += step {
			i := y*w + x
			if exclude[i] != 0 {
				continue
			}
			pts = append(pts, float32(x), float32(y), float32(x)+fl[2*i], float32(y)+fl[2*i+1])
		}
	}
	n := len(pts) / 4
	if n < 16 {
		return hm, false
	}
	src := gocv.NewMatWithSize(n, 1, gocv.MatTypeCV32FC2)
	defer src.Close()
	dst := gocv.NewMatWithSize(n, 1, gocv.MatTypeCV32FC2)
	defer dst.Close()
	sp, err1 := src.DataPtrFloat32()
	dp, err2 := dst.DataPtrFloat32()
	if err1 != nil || err2 != nil {
		return hm, false
	}
	for k := 0; k < n; k++ {
		sp[2*k], sp[2*k+1], dp[2*k], dp[2*k+1] = pts[4*k], pts[4*k+1], pts[4*k+2], pts[4*k+3]
	}
	inliers := gocv.NewMat()
	defer inliers.Close()
	H := gocv.FindHomography(src, &dst, gocv.HomograpyMethodRANSAC, 1.0, &inliers, 2000, 0.995)
	defer H.Close()
	if H.Empty() || H.Rows() != 3 || H.Cols() != 3 {
		return hm, false
	}
	if gocv.CountNonZero(inliers) < n/4 {
		return hm, false
	}
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			hm[r*3+c] = H.GetDoubleAt(r, c)
		}
	}
	return hm, true
}

// applyHomography sets the flow where unknown is non-zero to the motion of
// the homography hm.
func applyHomography(fl []float32, unknown []uint8, w, h int, hm [9]float64) {
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if unknown[i] == 0 {
				continue
			}
			fx, fy := float64(x), float64(y)
			d := hm[6]*fx + hm[7]*fy + hm[8]
			if d == 0 {
				continue
			}
			fl[2*i] = float32((hm[0]*fx+hm[1]*fy+hm[2])/d - fx)
			fl[2*i+1] = float32((hm[3]*fx+hm[4]*fy+hm[5])/d - fy)
		}
	}
}
