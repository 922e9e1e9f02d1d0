package video

// This file holds the few FFmpeg fields that go-astiav v0.16.0 does not
// expose (best-effort timestamps, decode-error flags, stream dispositions,
// swscale colour details, flushing a decoder after a seek). It is the only cgo in the package besides
// go-astiav itself.

/*
#cgo pkg-config: libavformat libavcodec libavutil libswscale
#include <string.h>
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>

static int64_t samtrack_best_effort_ts(const void *f) {
	return ((const AVFrame *)f)->best_effort_timestamp;
}

static int samtrack_frame_damaged(const void *f) {
	const AVFrame *fr = f;
	return (fr->flags & AV_FRAME_FLAG_CORRUPT) != 0 || fr->decode_error_flags != 0;
}

static int samtrack_frame_colorspace(const void *f) {
	return ((const AVFrame *)f)->colorspace;
}

static int samtrack_frame_full_range(const void *f) {
	return ((const AVFrame *)f)->color_range == AVCOL_RANGE_JPEG;
}

static unsigned samtrack_nb_streams(const void *fc) {
	return ((const AVFormatContext *)fc)->nb_streams;
}

// samtrack_seekable: 1 when the input's I/O can seek, 0 when it cannot (an
// HTTP server without range requests), -1 when there is no I/O context.
static int samtrack_seekable(const void *fc) {
	const AVIOContext *pb = ((const AVFormatContext *)fc)->pb;
	if (!pb) return -1;
	return pb->seekable ? 1 : 0;
}

// samtrack_select_video picks the video stream to decode: the first one
// flagged default, else the first one, never a cover picture. Every other
// stream is discarded so the demuxer skips its packets. It returns the stream
// index, -1 when there is no video stream and -2 when the only video streams
// are attached pictures (cover art).
static int samtrack_select_video(void *fcp) {
	AVFormatContext *fc = fcp;
	int best = -1, pics = 0;
	for (unsigned i = 0; i < fc->nb_streams; i++) {
		AVStream *st = fc->streams[i];
		if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) continue;
		if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) { pics++; continue; }
		if (best < 0 || ((st->disposition & AV_DISPOSITION_DEFAULT) &&
		                 !(fc->streams[best]->disposition & AV_DISPOSITION_DEFAULT))) {
			best = (int)i;
		}
	}
	for (unsigned i = 0; i < fc->nb_streams; i++) {
		if ((int)i != best) fc->streams[i]->discard = AVDISCARD_ALL;
	}
	if (best < 0 && pics > 0) return -2;
	return best;
}

// samtrack_keep_audio undoes the discard of the audio streams, so that the
// demuxer returns their packets (which are skipped, not decoded).
static void samtrack_keep_audio(void *fcp) {
	AVFormatContext *fc = fcp;
	for (unsigned i = 0; i < fc->nb_streams; i++) {
		if (fc->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) fc->streams[i]->discard = AVDISCARD_DEFAULT;
	}
}

// samtrack_sws_set_source_colors tells swscale which YUV matrix and range the
// source uses; the RGB side keeps full range.
static void samtrack_sws_set_source_colors(void *sws, int colorspace, int full_range) {
	int *inv, *table, src_range, dst_range, brightness, contrast, saturation;
	if (sws_getColorspaceDetails(sws, &inv, &src_range, &table, &dst_range,
	                             &brightness, &contrast, &saturation) < 0) {
		return;
	}
	sws_setColorspaceDetails(sws, sws_getCoefficients(colorspace), full_range,
	                         table, dst_range, brightness, contrast, saturation);
}

// samtrack_copy_into_plane copies h rows of row_bytes from src (tightly
// packed) into plane 0 of f, which has its own line size.
static void samtrack_copy_into_plane(void *fp, const uint8_t *src, int row_bytes, int h) {
	AVFrame *f = fp;
	for (int y = 0; y < h; y++) {
		memcpy(f->data[0] + (size_t)y * f->linesize[0], src + (size_t)y * row_bytes, row_bytes);
	}
}

// samtrack_copy_out_of_plane copies h rows of row_bytes out of plane 0 of f
// into dst (tightly packed).
static void samtrack_copy_out_of_plane(const void *fp, uint8_t *dst, int row_bytes, int h) {
	const AVFrame *f = fp;
	if (f->linesize[0] == row_bytes) {
		memcpy(dst, f->data[0], (size_t)row_bytes * h);
		return;
	}
	for (int y = 0; y < h; y++) {
		memcpy(dst + (size_t)y * row_bytes, f->data[0] + (size_t)y * f->linesize[0], row_bytes);
	}
}

// samtrack_flush_codec drops the decoder's buffered pictures and its
// end-of-stream state so that decoding can restart after a seek; it returns
// -1 when p does not look like the AVCodecContext expected (checked on its
// size and codec id).
static int samtrack_flush_codec(void *p, int w, int h, int codec_id) {
	AVCodecContext *cc = p;
	if (cc->width != w || cc->height != h || (int)cc->codec_id != codec_id) return -1;
	avcodec_flush_buffers(cc);
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// swsColorspace maps an AVColorSpace to the swscale SWS_CS_* index.
func swsColorspace(avcs int) C.int {
	switch avcs {
	case 1: // BT709
		return C.SWS_CS_ITU709
	case 4: // FCC
		return C.SWS_CS_FCC
	case 7: // SMPTE240M
		return C.SWS_CS_SMPTE240M
	case 9, 10: // BT2020 NCL / CL
		return C.SWS_CS_BT2020
	default: // BT470BG, SMPTE170M, unspecified: BT.601 like FFmpeg itself
		return C.SWS_CS_DEFAULT
	}
}

func bestEffortTS(f *astiav.Frame) int64 {
	return int64(C.samtrack_best_effort_ts(f.UnsafePointer()))
}

func frameDamaged(f *astiav.Frame) bool {
	return C.samtrack_frame_damaged(f.UnsafePointer()) != 0
}

func frameColorspace(f *astiav.Frame) int {
	return int(C.samtrack_frame_colorspace(f.UnsafePointer()))
}

func frameFullRange(f *astiav.Frame) bool {
	return C.samtrack_frame_full_range(f.UnsafePointer()) != 0
}

// cPointer returns the C pointer that a go-astiav v0.16.0 wrapper keeps in
// its first field (FormatContext, SoftwareScaleContext, CodecContext). The version is
// pinned in go.mod; callers check the result against a getter before use.
func cPointer[T any](w *T) unsafe.Pointer {
	if w == nil {
		return nil
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(w))
}

// formatPointer is fc's AVFormatContext, or nil when the wrapper's layout
// cannot be verified (its stream count must match go-astiav's).
func formatPointer(fc *astiav.FormatContext) unsafe.Pointer {
	if p := cPointer(fc); p != nil && int(C.samtrack_nb_streams(p)) == fc.NbStreams() {
		return p
	}
	return nil
}

// selectVideoStream returns the index of the stream to decode (see
// samtrack_select_video) and marks every other stream discarded. ok is false
// when the wrapper's pointer could not be verified; then the caller falls
// back to the first video stream.
func selectVideoStream(fc *astiav.FormatContext) (idx int, ok bool) {
	p := formatPointer(fc)
	if p == nil {
		return -1, false
	}
	return int(C.samtrack_select_video(p)), true
}

// keepAudioStreams has the demuxer return the audio streams' packets again
// (selectVideoStream discards them): where only the container declares a
// duration, their timestamps tell a longer audio track from a file cut
// short.
func keepAudioStreams(fc *astiav.FormatContext) {
	if p := formatPointer(fc); p != nil {
		C.samtrack_keep_audio(p)
	}
}

// FFmpegVersion is the FFmpeg release the program runs with, and the
// libavcodec it found (for bug reports: samtrack version).
func FFmpegVersion() string {
	v := uint32(C.avcodec_version())
	return fmt.Sprintf("%s (libavcodec %d.%d.%d)", C.GoString(C.av_version_info()), v>>16, v>>8&0xff, v&0xff)
}

// inputSeekable reports whether the input's I/O can seek; ok is false when
// that cannot be told.
func inputSeekable(fc *astiav.FormatContext) (seekable, ok bool) {
	p := formatPointer(fc)
	if p == nil {
		return false, false
	}
	switch C.samtrack_seekable(p) {
	case 1:
		return true, true
	case 0:
		return false, true
	}
	return false, false
}

func swsSetSourceColors(s *astiav.SoftwareScaleContext, avColorspace int, fullRange bool) {
	p := cPointer(s)
	if p == nil {
		return
	}
	fr := C.int(0)
	if fullRange {
		fr = 1
	}
	C.samtrack_sws_set_source_colors(p, swsColorspace(avColorspace), fr)
}

// flushCodec resets a decoder for a new position after a seek
// (avcodec_flush_buffers, which go-astiav v0.16.0 does not expose). It
// fails when the wrapper's pointer cannot be verified.
func flushCodec(cc *astiav.CodecContext) error {
	p := cPointer(cc)
	if p == nil || C.samtrack_flush_codec(p, C.int(cc.Width()), C.int(cc.Height()), C.int(cc.CodecID())) != 0 {
		return errors.New("video: cannot flush the decoder after a seek (unexpected go-astiav layout)")
	}
	return nil
}

// copyIntoPlane copies tightly packed rows (rowBytes each) into plane 0 of f.
func copyIntoPlane(f *astiav.Frame, src []byte, rowBytes, h int) {
	if len(src) < rowBytes*h || rowBytes <= 0 || h <= 0 {
		return
	}
	C.samtrack_copy_into_plane(f.UnsafePointer(), (*C.uint8_t)(unsafe.Pointer(&src[0])), C.int(rowBytes), C.int(h))
}

// copyOutOfPlane copies plane 0 of f into dst as tightly packed rows.
func copyOutOfPlane(f *astiav.Frame, dst []byte, rowBytes, h int) {
	if len(dst) < rowBytes*h || rowBytes <= 0 || h <= 0 {
		return
	}
	C.samtrack_copy_out_of_plane(f.UnsafePointer(), (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(rowBytes), C.int(h))
}
