//go:build !nogocv

#include "graphcut.h"

#include <cmath>
#include <cstring>
#include <exception>

#include <climits>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc/detail/gcgraph.hpp>

namespace {

void fillErr(char* err, int errLen, const char* msg) {
    if (err == nullptr || errLen <= 0) return;
    std::strncpy(err, msg, errLen - 1);
    err[errLen - 1] = '\0';
}

double sqDiff(const unsigned char* a, const unsigned char* b) {
    double d0 = double(a[0]) - b[0], d1 = double(a[1]) - b[1], d2 = double(a[2]) - b[2];
    return d0 * d0 + d1 * d1 + d2 * d2;
}

// beta is cv::grabCut's contrast constant: 1/(2·mean squared colour
// difference) over the left, up-left, up and up-right neighbour pairs.
double beta(const unsigned char* rgb, int w, int h) {
    static const int dx[4] = {-1, -1, 0, 1}, dy[4] = {0, -1, -1, -1};
    double sum = 0;
    long n = 0;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            for (int k = 0; k < 4; k++) {
                int nx = x + dx[k], ny = y + dy[k];
                if (nx < 0 || ny < 0 || nx >= w) continue;
                sum += sqDiff(rgb + 3 * (y * w + x), rgb + 3 * (ny * w + nx));
                n++;
            }
        }
    }
    return sum <= 0 || n == 0 ? 0 : 1.0 / (2 * sum / n);
}

}  // namespace

int GraphCut_Grid(const unsigned char* rgb, int w, int h, const double* fromSource,
                  const double* toSink, double gamma, unsigned char* out, char* err, int errLen) {
    if (rgb == nullptr || fromSource == nullptr || toSink == nullptr || out == nullptr || w <= 0 || h <= 0) {
        fillErr(err, errLen, "empty image or cost arrays");
        return -1;
    }
    try {
        static const int dx[4] = {-1, -1, 0, 1}, dy[4] = {0, -1, -1, -1};
        const double b = beta(rgb, w, h), diag = gamma / std::sqrt(2.0);
        cv::detail::GCGraph<double> g(unsigned(w * h), unsigned(2 * (4 * w * h - 3 * w - 3 * h + 2)));
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = g.addVtx();
                g.addTermWeights(i, fromSource[i], toSink[i]);
                for (int k = 0; k < 4; k++) {
                    int nx = x + dx[k], ny = y + dy[k];
                    if (nx < 0 || ny < 0 || nx >= w) continue;
                    int j = ny * w + nx;
                    double wt = (dx[k] != 0 && dy[k] != 0 ? diag : gamma) * std::exp(-b * sqDiff(rgb + 3 * i, rgb + 3 * j));
                    g.addEdges(i, j, wt, wt);
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
