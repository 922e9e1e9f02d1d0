//go:build !linux

package video

func releaseFreedNative() {}
