package main

import (
	"fmt"
	"strings"

	"samtrack/config"
	"samtrack/models"
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

// detectPair checks that an encoder and decoder form one supported model
// and returns its format.
func (a *app) detectPair(c config.Config, enc, dec string) (string, error) {
	rt, err := ort.Open(c.Runtime.ORTLibrary)
	if err != nil {
		return "", err
	}
	defer rt.Close()
	de, err := segment.DetectFile(rt, enc)
	if err != nil {
		return "", err
	}
	if err := de.Err(segment.RoleEncoder); err != nil {
		return "", err
	}
	dd, err := segment.DetectFile(rt, dec)
	if err != nil {
		return "", err
	}
	if err := dd.Err(segment.RoleDecoder); err != nil {
		return "", err
	}
	if de.Layout.Family != dd.Layout.Family {
		return "", fmt.Errorf("encoder %s is %s but decoder %s is %s; use the two halves of one model", enc, de.Layout.Family, dec, dd.Layout.Family)
	}
	return de.Layout.Family, nil
}

// checkLayout refuses a pulled or registered model whose files do not have
// the inputs and outputs of its declared format.
func (a *app) checkLayout(cfg config.Config, st models.Store, m models.Model) error {
	enc, ok1 := m.File(models.Encoder)
	dec, ok2 := m.File(models.Decoder)
	if !ok1 || !ok2 {
		return fmt.Errorf("model %s lacks an encoder or decoder file", m.Name)
	}
	format, err := a.detectPair(cfg, st.Path(m, enc), st.Path(m, dec))
	if err != nil {
		return fmt.Errorf("model %s: %w", m.Name, err)
	}
	if m.Format != "" && !strings.EqualFold(format, m.Format) {
		return fmt.Errorf("model %s: files are %s, expected %s", m.Name, format, m.Format)
	}
	return nil
}
