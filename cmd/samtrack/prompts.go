package main

import (
	"github.com/spf13/pflag"

	"samtrack/pipeline"
)

// jobFlags are the prompt and model flags that track and remove share.
type jobFlags struct {
	maskFile, promptsFile, box *string
	maskFrame                  *int
	points                     *[]string
	everything                 *bool
}

// addJobFlags defines the shared flags on fs.
func addJobFlags(fs *pflag.FlagSet) *jobFlags {
	j := &jobFlags{
		maskFile:    fs.String("mask", "", "label PNG of the first frame's objects (DAVIS palette or greyscale ids)"),
		maskFrame:   fs.Int("mask-frame", 0, "frame that --mask belongs to"),
		promptsFile: fs.String("prompts", "", "prompts JSON file (see README)"),
		points:      fs.StringArray("point", nil, "click X,Y[,LABEL] on frame 0 for object 1; repeatable"),
		box:         fs.String("box", "", "box X0,Y0,X1,Y1 on frame 0 for object 1"),
		everything:  fs.Bool("everything", false, "take the first frame's objects from everything mode"),
	}
	fs.String("propagator", "builtin", "builtin (optical flow) or an exported DeAOT model directory")
	fs.Int("sam-gap", 10, "frames between everything-mode passes that find new objects")
	fs.String("sam-encoder", "", "SAM encoder ONNX file")
	fs.String("sam-decoder", "", "SAM decoder ONNX file")
	fs.String("model", "", "registered SAM model name")
	fs.Bool("refine", false, "SAM-Track two-pass refinement of prompts")
	return j
}

// bind maps the shared flags (and extra ones named in more) to config keys.
func (j *jobFlags) bind(fs *pflag.FlagSet, more map[string]string) map[string]*pflag.Flag {
	bind := samFlags(fs)
	for key, name := range map[string]string{"track.propagator": "propagator", "track.sam_gap": "sam-gap"} {
		bind[key] = fs.Lookup(name)
	}
	for key, name := range more {
		bind[key] = fs.Lookup(name)
	}
	return bind
}

// prompts builds the job's prompts from the flags; cmd names the command
// in errors.
func (j *jobFlags) prompts(cmd string) (pipeline.Prompts, error) {
	var p pipeline.Prompts
	var err error
	if *j.promptsFile != "" {
		if p, err = pipeline.LoadPrompts(*j.promptsFile); err != nil {
			return p, exitError{code: 2, err: err}
		}
	}
	if *j.maskFile != "" {
		if p.Mask != "" {
			return p, usageErr("%s: --mask and a prompts file with a mask: give one", cmd)
		}
		p.Mask, p.MaskFrame = *j.maskFile, *j.maskFrame
	}
	if len(*j.points) > 0 || *j.box != "" {
		pr, err := parsePrompt(*j.points, *j.box)
		if err != nil {
			return p, usageErr("%s: %v", cmd, err)
		}
		obj := pipeline.ObjectPrompt{ID: 1}
		for _, pt := range pr.Points {
			obj.Points = append(obj.Points, []float64{pt.X, pt.Y, float64(pt.Label)})
		}
		if pr.Box != nil {
			obj.Box = []float64{pr.Box.X0, pr.Box.Y0, pr.Box.X1, pr.Box.Y1}
		}
		p.Objects = append(p.Objects, obj)
	}
	return p, nil
}
