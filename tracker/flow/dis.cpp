#include "dis.h"

#include <cstring>
#include <exception>

#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>

namespace {

struct Holder {
    cv::Ptr<cv::DISOpticalFlow> dis;
};

void fillErr(char* err, int errLen, const char* msg) {
    if (err == nullptr || errLen <= 0) return;
    std::strncpy(err, msg, errLen - 1);
    err[errLen - 1] = '\0';
}

}  // namespace

DISFlow DISFlow_New(int preset, char* err, int errLen) {
    try {
        Holder* h = new Holder();
        h->dis = cv::DISOpticalFlow::create(preset);
        if (h->dis.empty()) {
            delete h;
            fillErr(err, errLen, "cv::DISOpticalFlow::create returned an empty pointer");
            return nullptr;
        }
        return h;
    } catch (const std::exception& e) {
        fillErr(err, errLen, e.what());
        return nullptr;
    }
}

int DISFlow_Calc(DISFlow d, void* i0, void* i1, void* flow, char* err, int errLen) {
    if (d == nullptr || i0 == nullptr || i1 == nullptr || flow == nullptr) {
        fillErr(err, errLen, "nil DIS instance or Mat");
        return -1;
    }
    try {
        Holder* h = static_cast<Holder*>(d);
        h->dis->calc(*static_cast<cv::Mat*>(i0), *static_cast<cv::Mat*>(i1), *static_cast<cv::Mat*>(flow));
        return 0;
    } catch (const std::exception& e) {
        fillErr(err, errLen, e.what());
        return -1;
    }
}

void DISFlow_Close(DISFlow d) {
    delete static_cast<Holder*>(d);
}
