package main

import (
	"context"
	"fmt"

	"samtrack/eval"
)

func (a *app) eval(ctx context.Context, args []string) error {
	fs, cfgFile := flagSet("eval")
	gt := fs.String("gt", "", "ground-truth PNG directory (one sequence, or DAVIS-style sequence folders)")
	pred := fs.String("pred", "", "predicted PNG directory, laid out like --gt")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if _, err := a.load(*cfgFile, nil); err != nil {
		return err
	}
	if *gt == "" || *pred == "" {
		return usageErr("eval: want --gt DIR --pred DIR")
	}
	rep, err := eval.Evaluate(ctx, *gt, *pred)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, string(b))
		return nil
	}
	return rep.WriteText(a.stdout)
}
