package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"samtrack/config"
	"samtrack/models"
	"samtrack/pipeline"
)

func (a *app) models(ctx context.Context, args []string) error {
	fs, cfgFile := flagSet("models")
	encoder := fs.String("encoder", "", "encoder ONNX file (models add)")
	decoder := fs.String("decoder", "", "decoder ONNX file (models add)")
	format := fs.String("format", "", "layout of a registered model (models add; detected when empty)")
	verbose := fs.BoolP("verbose", "v", false, "models list: also each model's source page, download and files")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.load(*cfgFile, nil)
	if err != nil {
		return err
	}
	st, err := models.ConfiguredStore(c)
	if err != nil {
		return err
	}
	cat, err := st.Catalogue()
	if err != nil {
		return err
	}
	sub := fs.Arg(0)
	names := fs.Args()
	if len(names) > 0 {
		names = names[1:]
	}
	switch sub {
	case "list":
		return a.listModels(st, cat, *verbose)
	case "pull":
		return a.pullModels(ctx, c, st, cat, names)
	case "verify":
		return a.verifyModels(c, st, cat, names)
	case "inspect":
		if len(names) == 0 {
			return usageErr("models inspect: give one or more ONNX files")
		}
		return a.inspect(c, names)
	case "add":
		if len(names) != 1 || *encoder == "" || *decoder == "" {
			return usageErr("models add: want NAME --encoder FILE --decoder FILE")
		}
		return a.addModel(c, st, names[0], *encoder, *decoder, *format)
	case "remove":
		return a.removeModels(st, cat, names)
	}
	return usageErr("models: want list, pull, verify, inspect, add or remove")
}

// removeModels deletes the named models' pulled files, or unregisters
// the named user models (whose files stay).
func (a *app) removeModels(st models.Store, cat *models.Catalogue, names []string) error {
	if len(names) == 0 {
		return usageErr("models remove: name a model (see `samtrack models list`)")
	}
	for _, n := range names {
		m, err := cat.Lookup(n)
		if err != nil {
			return err
		}
		what, err := st.Remove(m)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s: %s\n", n, what)
	}
	return nil
}

// pullModels downloads and verifies the named catalogue entries.
func (a *app) pullModels(ctx context.Context, c config.Config, st models.Store, cat *models.Catalogue, names []string) error {
	if len(names) == 0 {
		return usageErr("models pull: name a model (see `samtrack models list`)")
	}
	for _, n := range names {
		m, err := cat.Lookup(n)
		if err != nil {
			return err
		}
		if err := st.Pull(ctx, m, a.stderr); err != nil {
			return fmt.Errorf("pull %s: %w", n, err)
		}
		if err := pipeline.CheckLayout(c, st, m); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s: pulled and verified into %s\n", n, filepath.Join(st.Dir, m.Name))
	}
	return nil
}

// verifyModels checks the digests and layout of the named models' files.
func (a *app) verifyModels(c config.Config, st models.Store, cat *models.Catalogue, names []string) error {
	if len(names) == 0 {
		return usageErr("models verify: name a model")
	}
	for _, n := range names {
		m, err := cat.Lookup(n)
		if err != nil {
			return err
		}
		res, verr := st.Verify(m)
		for _, r := range res {
			if r.OK {
				fmt.Fprintf(a.stdout, "%s: %s ok (sha256 %s, %s)\n", n, r.File.Name, r.SHA256, r.Source)
			} else {
				fmt.Fprintf(a.stdout, "%s: %s FAILED: %s\n", n, r.Path, r.Problem)
			}
		}
		if verr != nil {
			return verr
		}
		if err := pipeline.CheckLayout(c, st, m); err != nil {
			return err
		}
	}
	return nil
}

// addModel registers a user's encoder and decoder files under name; an
// empty format is detected from the files.
func (a *app) addModel(c config.Config, st models.Store, name, encoder, decoder, format string) error {
	m := models.Model{Name: name, Family: "user", Format: format, License: "user-supplied",
		Files: []models.File{{Role: models.Encoder, Name: encoder}, {Role: models.Decoder, Name: decoder}}}
	if m.Format == "" {
		f, err := pipeline.DetectPair(c, encoder, decoder)
		if err != nil {
			return err
		}
		m.Format = f
	}
	if err := st.Register(m); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s: registered (%s); digests recorded for later verification\n", m.Name, m.Format)
	return nil
}

// listModels prints the catalogue: presence only (hashing every pulled file,
// gigabytes for ViT-H, is `models verify`'s job), and with verbose each
// entry's source page, download URL (through the mirror, if one is set) and
// files.
func (a *app) listModels(st models.Store, cat *models.Catalogue, verbose bool) error {
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFAMILY\tFORMAT\tLICENCE\tFILES\tSOURCE")
	for _, m := range cat.All() {
		present := 0
		for _, f := range m.Files {
			if _, err := os.Stat(st.Path(m, f)); err == nil {
				present++
			}
		}
		state := "not pulled"
		switch {
		case present == len(m.Files):
			state = "present"
		case present > 0:
			state = "partial"
		}
		src := m.Source
		if m.User {
			src = "registered local files"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Family, m.Format, m.License, state, src)
		if verbose && !m.User {
			fmt.Fprintf(tw, "    download: %s\n", st.URL(m))
		}
		if verbose {
			for _, f := range m.Files {
				fmt.Fprintf(tw, "    %s: %s\n", f.Role, st.Path(m, f))
			}
			if m.Notes != "" {
				fmt.Fprintf(tw, "    note: %s\n", m.Notes)
			}
		}
	}
	return tw.Flush()
}
