// C interface to OpenCV's max-flow graph (cv::detail::GCGraph, the solver
// inside cv::grabCut) for package segment's classical segmenter, which
// computes its own terminal costs and so cannot call cv::grabCut itself.
#ifndef SAMTRACK_SEGMENT_GRAPHCUT_H
#define SAMTRACK_SEGMENT_GRAPHCUT_H

#ifdef __cplusplus
extern "C" {
#endif

// GraphCut_Grid labels the pixels of a w×h 8-bit RGB image (rgb, 3 bytes a
// pixel, row-major) by a minimum cut: pixel i pays fromSource[i] to be
// background and toSink[i] to be foreground, and each of its 8 neighbours
// pays gamma·exp(-beta·|Δcolour|²) (divided by √2 on diagonals) to take the
// other label, beta being 1/(2·mean |Δcolour|²) as in cv::grabCut. out[i]
// is set to 1 for foreground (source side), 0 for background. It returns
// 0, or -1 and fills err (size errLen).
int GraphCut_Grid(const unsigned char* rgb, int w, int h, const double* fromSource,
                  const double* toSink, double gamma, unsigned char* out, char* err, int errLen);

#ifdef __cplusplus
}
#endif

#endif
