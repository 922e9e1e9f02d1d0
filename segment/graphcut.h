// C interface to OpenCV's max-flow graph (cv::detail::GCGraph, the solver
// inside cv::grabCut) for package segment's classical segmenter, which
// computes its own terminal costs and so cannot call cv::grabCut itself.
#ifndef SAMTRACK_SEGMENT_GRAPHCUT_H
#define SAMTRACK_SEGMENT_GRAPHCUT_H

#ifdef __cplusplus
extern "C" {
#endif

// What fixed[i] says of pixel i.
enum { GRAPHCUT_FREE = 0, GRAPHCUT_FOREGROUND = 1, GRAPHCUT_BACKGROUND = 2 };

// GraphCut_Grid labels the pixels of a w×h grid (row-major) by a minimum
// cut: pixel i pays fromSource[i] to be background and toSink[i] to be
// foreground, and left[i], upLeft[i], up[i], upRight[i] to take another
// label than that neighbour (entries for neighbours off the grid are
// ignored). A pixel whose fixed[i] is not GRAPHCUT_FREE keeps that label
// (its costs are not read) and is left out of the graph. out[i] is set to
// 1 for foreground (source side), 0 for background. It returns 0, or -1
// and fills err (size errLen).
int GraphCut_Grid(int w, int h, const unsigned char* fixed, const double* fromSource, const double* toSink,
                  const double* left, const double* upLeft, const double* up, const double* upRight,
                  unsigned char* out, char* err, int errLen);

#ifdef __cplusplus
}
#endif

#endif
