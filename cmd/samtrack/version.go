package main

import (
	"context"
	"fmt"
	"runtime"

	"samtrack/ort"
	"samtrack/tracker/flow"
	"samtrack/video"
)

func (a *app) version(_ context.Context, args []string) error {
	fs, cfgFile := flagSet("version")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.load(*cfgFile, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "samtrack %s (%s %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(a.stdout, "ffmpeg %s\n", video.FFmpegVersion())
	fmt.Fprintf(a.stdout, "opencv %s\n", flow.OpenCVVersion())
	rt, err := ort.Open(c.Runtime.ORTLibrary)
	if err != nil {
		return fmt.Errorf("onnxruntime: %w", err)
	}
	defer rt.Close()
	fmt.Fprintf(a.stdout, "onnxruntime %s (%s)\n", rt.RuntimeVersion(), rt.Library())
	return nil
}
