// C interface to cv::DISOpticalFlow for package flow. Mats are passed as the
// cv::Mat pointers that gocv holds (gocv.Mat.Ptr()).
#ifndef SAMTRACK_FLOW_DIS_H
#define SAMTRACK_FLOW_DIS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void* DISFlow;

// DISFlow_New creates an instance with a preset (0 ULTRAFAST, 1 FAST,
// 2 MEDIUM); it returns NULL and fills err (size errLen) on failure.
DISFlow DISFlow_New(int preset, char* err, int errLen);
// DISFlow_Calc computes the flow from i0 to i1 (8-bit, 1 channel, same size)
// into flow (CV_32FC2, reallocated by OpenCV only when its size differs).
// It returns 0, or -1 and fills err.
int DISFlow_Calc(DISFlow d, void* i0, void* i1, void* flow, char* err, int errLen);
// DISFlow_Close releases the instance; NULL is allowed.
void DISFlow_Close(DISFlow d);

#ifdef __cplusplus
}
#endif

#endif
