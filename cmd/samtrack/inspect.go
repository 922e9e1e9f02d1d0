package main

import (
	"fmt"

	"samtrack/config"
	"samtrack/ort"
	"samtrack/segment"
)

// inspect prints, for each file, the layout detected and why.
func (a *app) inspect(c config.Config, files []string) error {
	rt, err := ort.Open(c.Runtime.ORTLibrary)
	if err != nil {
		return err
	}
	defer rt.Close()
	failed := 0
	for _, f := range files {
		d, err := segment.DetectFile(rt, f)
		if err != nil {
			fmt.Fprintf(a.stdout, "%s: %v\n", f, err)
			failed++
			continue
		}
		fmt.Fprintf(a.stdout, "%s\n  format: %s\n", f, d.Format())
		if d.Layout != nil {
			fmt.Fprintf(a.stdout, "  layout: %s (%s, %s)\n", d.Layout.Title, d.Layout.Family, d.Layout.Role)
		}
		for _, in := range d.Inputs {
			fmt.Fprintf(a.stdout, "  input   %s\n", in)
		}
		for _, out := range d.Outputs {
			fmt.Fprintf(a.stdout, "  output  %s\n", out)
		}
		for _, r := range d.Reasons {
			fmt.Fprintf(a.stdout, "  because %s\n", r)
		}
		if err := d.Err(""); err != nil {
			fmt.Fprintf(a.stdout, "  refused: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files are not usable SAM models", failed, len(files))
	}
	return nil
}
