//go:build linux

package video

/*
#include <malloc.h>
*/
import "C"

// releaseFreedNative hands memory that FFmpeg freed back to the OS. Every
// reconnection creates a decoder whose threads allocate from their own glibc
// arenas; without a trim the freed pages stay resident and a long-running
// live source that reconnects often creeps up in RSS.
func releaseFreedNative() { C.malloc_trim(0) }
