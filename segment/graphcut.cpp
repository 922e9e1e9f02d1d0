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

int GraphCut_Grid(int w, int h, const unsigned char* fixed, const double* fromSource, const double* toSink,
                  const double* left, const double* upLeft, const double* up, const double* upRight,
                  unsigned char* out, char* err, int errLen) {
    if (fixed == nullptr || fromSource == nullptr || toSink == nullptr || left == nullptr || upLeft == nullptr ||
        up == nullptr || upRight == nullptr || out == nullptr || w <= 0 || h <= 0) {
        fillErr(err, errLen, "empty grid or cost arrays");
        return -1;
    }
    try {
        // Only the free pixels are vertices: a fixed pixel is folded into
        // its terminal, so its link to a free neighbour becomes part of
        // what that neighbour pays to take the other label.
        const int n = w * h;
        std::vector<int> vtx(n, -1);
        int nFree = 0;
        for (int i = 0; i < n; i++) {
            if (fixed[i] == GRAPHCUT_FREE) vtx[i] = nFree++;
        }
        if (nFree > 0) {
            cv::detail::GCGraph<double> g(unsigned(nFree), unsigned(8 * nFree));
            // The eight neighbours: offset and the array (and whose entry)
            // that holds the link's weight.
            struct nb {
                int dx, dy;
                const double* wt;
                bool own;  // the weight is stored at this pixel, not the neighbour's
            };
            const nb nbs[8] = {{-1, 0, left, true},  {-1, -1, upLeft, true}, {0, -1, up, true},
                               {1, -1, upRight, true}, {1, 0, left, false},  {1, 1, upLeft, false},
                               {0, 1, up, false},     {-1, 1, upRight, false}};
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int i = y * w + x;
                    if (vtx[i] < 0) continue;
                    int v = g.addVtx();
                    double src = fromSource[i], snk = toSink[i];
                    for (const nb& d : nbs) {
                        int nx = x + d.dx, ny = y + d.dy;
                        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                        int j = ny * w + nx;
                        double wt = d.own ? d.wt[i] : d.wt[j];
                        if (fixed[j] == GRAPHCUT_FREE) {
                            if (d.own) g.addEdges(v, vtx[j], wt, wt);  // once, from the later pixel
                        } else if (fixed[j] == GRAPHCUT_FOREGROUND) {
                            src += wt;  // background here would cut the link
                        } else {
                            snk += wt;
                        }
                    }
                    g.addTermWeights(v, src, snk);
                }
            }
            g.maxFlow();
            for (int i = 0; i < n; i++) {
                if (vtx[i] >= 0) out[i] = g.inSourceSegment(vtx[i]) ? 1 : 0;
            }
        }
        for (int i = 0; i < n; i++) {
            if (vtx[i] < 0) out[i] = fixed[i] == GRAPHCUT_FOREGROUND ? 1 : 0;
        }
        return 0;
    } catch (const std::exception& e) {
        fillErr(err, errLen, e.what());
        return -1;
    }
}
