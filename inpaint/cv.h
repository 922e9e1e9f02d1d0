// C interface to cv::inpaint (photo module) for package inpaint. Mats are
// the cv::Mat pointers that gocv holds (gocv.Mat.Ptr()).
#ifndef SAMTRACK_INPAINT_CV_H
#define SAMTRACK_INPAINT_CV_H

#ifdef __cplusplus
extern "C" {
#endif

// Inpaint_Run fills the non-zero pixels of mask (8-bit, 1 channel) in src
// (8-bit, 3 channels) into dst with method 0 (Navier-Stokes) or 1 (Telea)
// and the given radius. It returns 0, or -1 and fills err (size errLen).
int Inpaint_Run(void* src, void* mask, void* dst, double radius, int method, char* err, int errLen);

#ifdef __cplusplus
}
#endif

#endif
