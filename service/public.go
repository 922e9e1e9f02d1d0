package service

import (
	"path/filepath"
	"regexp"
	"strings"
)

// publicText rewrites a message for clients: the server's own paths (its
// data directory, the resolved form of allowed directories) never leave
// it, and command-line advice that a client cannot follow is dropped.
type publicText struct {
	rules []rewrite
	names *strings.Replacer
}

type rewrite struct {
	re   *regexp.Regexp
	with string
}

func newPublicText(dataDir string, allowDirs, allowNames []string) *publicText {
	var rules []rewrite
	for _, d := range distinct(dataDir) {
		q := regexp.QuoteMeta(d)
		rules = append(rules,
			rewrite{regexp.MustCompile(q + `/uploads/([0-9a-f]+)(/[^\s:"')]*)?`), "upload:$1"},
			rewrite{regexp.MustCompile(q + `/jobs/([0-9a-f]+)/out(/[^\s:"')]*)?`), "the results of job $1"},
			rewrite{regexp.MustCompile(q + `/jobs/([0-9a-f]+)(/[^\s:"')]*)?`), "the files of job $1"},
			rewrite{regexp.MustCompile(q + `[^\s:"')]*`), "the server's data directory"})
	}
	// "(DIR keeps every finished frame; ... and --resume continues it)":
	// the service resumes jobs itself.
	rules = append(rules, rewrite{regexp.MustCompile(`\s*\([^()]*--resume continues it\)`), ""})
	var pairs []string
	for i, d := range allowDirs {
		if d != allowNames[i] {
			pairs = append(pairs, d, allowNames[i])
		}
	}
	return &publicText{rules: rules, names: strings.NewReplacer(pairs...)}
}

// distinct is dir and, when it differs, its form with symlinks resolved.
func distinct(dir string) []string {
	out := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		out = append(out, real)
	}
	return out
}

// String rewrites msg.
func (p *publicText) String(msg string) string {
	for _, r := range p.rules {
		msg = r.re.ReplaceAllString(msg, r.with)
	}
	return p.names.Replace(msg)
}

// Error is err's public message ("" for nil).
func (p *publicText) Error(err error) string {
	if err == nil {
		return ""
	}
	return p.String(err.Error())
}
