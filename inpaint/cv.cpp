#include "cv.h"

#include <cstring>
#include <exception>

#include <opencv2/core.hpp>
#include <opencv2/photo.hpp>

int Inpaint_Run(void* src, void* mask, void* dst, double radius, int method, char* err, int errLen) {
    try {
        int flag = method == 1 ? cv::INPAINT_TELEA : cv::INPAINT_NS;
        cv::inpaint(*static_cast<cv::Mat*>(src), *static_cast<cv::Mat*>(mask), *static_cast<cv::Mat*>(dst), radius, flag);
        return 0;
    } catch (const std::exception& e) {
        if (err != nullptr && errLen > 0) {
            std::strncpy(err, e.what(), errLen - 1);
            err[errLen - 1] = '\0';
        }
        return -1;
    }
}
