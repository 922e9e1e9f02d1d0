//go:build !nogocv

#include "graphcut.h"

#include <climits>
#include <cstring>
#include <exception>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc/detail/gcgraph.hpp>

namespace {

void fillErr(char* err, int errLen, const char* msg) {
    if (err == nullptr || errLen <= 0) return;
    std::strncpy(err, msg, errLen - 1);
    err[errLen - 1] = '\0';
}

}  // namespace

int GraphCut_Grid(int w, int h, const double* fromSource, const double* toSink, const double* left,
                  const double* upLeft, const double* up, const double* upRight, unsigned char* out,
                  char* err, int errLen) {
    if (fromSource == nullptr || toSink == nullptr || left == nullptr || upLeft == nullptr || up == nullptr ||
        upRight == nullptr || out == nullptr || w <= 0 || h <= 0) {
        fillErr(err, errLen, "empty grid or cost arrays");
        return -1;
    }
    try {
        cv::detail::GCGraph<double> g(unsigned(w * h), unsigned(2 * (4 * w * h - 3 * w - 3 * h + 2)));
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = g.addVtx();
                g.addTermWeights(i, fromSource[i], toSink[i]);
                if (x > 0) g.addEdges(i, i - 1, left[i], left[i]);
                if (y > 0) {
                    if (x > 0) g.addEdges(i, i - w - 1, upLeft[i], upLeft[i]);
                    g.addEdges(i, i - w, up[i], up[i]);
                    if (x < w - 1) g.addEdges(i, i - w + 1, upRight[i], upRight[i]);
                }
            }
        }
        g.maxFlow();
        for (int i = 0; i < w * h; i++) out[i] = g.inSourceSegment(i) ? 1 : 0;
        return 0;
    } catch (const std::exception& e) {
        fillErr(err, errLen, e.what());
        return -1;
    }
}
