// Package publictext rewrites samtrack serve's messages before they reach a
// client: the server's own paths (its data directory, uploads, job
// folders, the resolved form of allowed directories) are replaced by names
// a client knows, and command-line advice a client cannot follow is
// dropped. The service passes every error, event and job record message
// through it.
package publictext

import (
	"path/filepath"
	"regexp"
	"strings"
)

// Rewriter rewrites a message for clients: the server's own paths (its
// data directory, the resolved form of allowed directories) never leave
// it, and command-line advice that a client cannot follow is dropped.
type Rewriter struct {
	rules []rewrite
	names *strings.Replacer
}

type rewrite struct {
	re   *regexp.Regexp
	with string
}

// New returns the rewriter for a server with data directory dataDir and
// the allowed directories allowDirs (resolved), shown to clients as
// allowNames (as given).
func New(dataDir string, allowDirs, allowNames []string) *Rewriter {
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
	return &Rewriter{rules: rules, names: strings.NewReplacer(pairs...)}
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
func (p *Rewriter) String(msg string) string {
	for _, r := range p.rules {
		msg = r.re.ReplaceAllString(msg, r.with)
	}
	return p.names.Replace(msg)
}

// Error is err's public message ("" for nil).
func (p *Rewriter) Error(err error) string {
	if err == nil {
		return ""
	}
	return p.String(err.Error())
}
