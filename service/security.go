package service

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"samtrack/internal/netguard"
	"samtrack/pipeline"
)

// apiError is an error with its HTTP status; handlers answer it as
// {"error": msg}.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, a...)}
}

// authorized checks the API token: "Authorization: Bearer TOKEN", or for
// clients that cannot set headers (EventSource, <img>), the query parameter
// access_token or the cookie samtrack_token.
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return true
	}
	var got string
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		got = strings.TrimSpace(tok)
	} else if q := r.URL.Query().Get("access_token"); q != "" && safe {
		got = q
	} else if c, err := r.Cookie("samtrack_token"); err == nil && safe {
		// Only for reads: a cookie rides along on cross-site requests.
		got = c.Value
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1
}

// checkOrigin refuses what a web page elsewhere could make a browser send:
// a state-changing request from another origin (CSRF), and, when no token
// protects the API, a request whose Host is not a loopback name (DNS
// rebinding).
func (s *Server) checkOrigin(r *http.Request) *apiError {
	if s.opts.Token == "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if ip := net.ParseIP(host); !(host == "localhost" || (ip != nil && ip.IsLoopback())) {
			return errorf(http.StatusForbidden, "Host %q is not a loopback address; without a token this server only answers http://127.0.0.1 or http://localhost (set a token to serve other names)", r.Host)
		}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil // not a browser, or a same-origin request of an old one
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return errorf(http.StatusForbidden, "cross-origin request from %q refused", origin)
	}
	return nil
}

var uploadIDPattern = regexp.MustCompile(`^[0-9a-f]{20}$`)

// resolvedInput is a job's or a segment request's input after the security
// checks.
type resolvedInput struct {
	// Source is what the pipeline opens: an absolute path without symlinks,
	// or a URL.
	Source string
	// URL and Live classify it.
	URL, Live bool
}

// resolveInput applies the security rules to an input: "upload:ID" names an
// uploaded file; a URL must use an allowed scheme (403 otherwise); a path
// must lie in an allowed directory once symlinks and ".." are resolved (403
// otherwise) and exist (400).
func (s *Server) resolveInput(input string, forceLive bool) (resolvedInput, *apiError) {
	input = strings.TrimSpace(input)
	if input == "" {
		return resolvedInput{}, errorf(http.StatusBadRequest, `"input" is empty: give a file path, a URL (rtsp://, http://...) or "upload:ID"`)
	}
	if id, ok := strings.CutPrefix(input, "upload:"); ok {
		p, err := s.uploadPath(id)
		if err != nil {
			return resolvedInput{}, err
		}
		return resolvedInput{Source: p}, nil
	}
	if u, err := url.Parse(input); err == nil && u.Scheme != "" && len(u.Scheme) > 1 && !filepath.IsAbs(input) {
		scheme := strings.ToLower(u.Scheme)
		if !slices.Contains(s.opts.AllowSchemes, scheme) {
			return resolvedInput{}, errorf(http.StatusForbidden, "input scheme %q is not allowed; this server accepts %s URLs (--allow-scheme), and files inside --allow-dir directories",
				scheme, strings.Join(s.opts.AllowSchemes, ", "))
		}
		if u.Host == "" {
			return resolvedInput{}, errorf(http.StatusBadRequest, "input URL %q has no host; want %s://HOST[:PORT]/PATH", redact(input), scheme)
		}
		src, e := s.checkURL(input, u)
		if e != nil {
			return resolvedInput{}, e
		}
		return resolvedInput{Source: src, URL: true, Live: forceLive || pipeline.IsLive(input)}, nil
	}
	if strings.Contains(input, "://") {
		return resolvedInput{}, errorf(http.StatusBadRequest, "input %q is not a valid URL", redact(input))
	}
	p, err := s.confine(input, "input")
	if err != nil {
		return resolvedInput{}, err
	}
	return resolvedInput{Source: p}, nil
}

// confine resolves a path and checks that it lies inside an allowed
// directory once every symlink is resolved, so that a link cannot lead out
// (the allowed directories are stored resolved too, so a path may be
// written through any link form of them). A path outside gets 403 whether
// or not it exists, so nothing is revealed about the rest of the disk.
func (s *Server) confine(p, what string) (string, *apiError) {
	if len(s.opts.AllowDirs) == 0 {
		return "", errorf(http.StatusForbidden, "%s %q: file inputs are disabled on this server (no --allow-dir); upload the file instead", what, p)
	}
	if strings.ContainsRune(p, 0) {
		return "", errorf(http.StatusBadRequest, "%s: the path contains a NUL byte", what)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "%s %q: %v", what, p, err)
	}
	outside := errorf(http.StatusForbidden, "%s %q is outside the allowed directories (%s)", what, p, strings.Join(s.opts.allowNames, ", "))
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if !s.allowed(abs) {
			return "", outside
		}
		if errors.Is(err, fs.ErrNotExist) {
			return "", errorf(http.StatusBadRequest, "%s %q does not exist", what, p)
		}
		return "", errorf(http.StatusBadRequest, "%s %q: %v", what, p, err)
	}
	if !s.allowed(real) {
		if s.allowed(abs) {
			return "", errorf(http.StatusForbidden, "%s %q resolves (through a symbolic link) to a path outside the allowed directories", what, p)
		}
		return "", outside
	}
	return real, nil
}

func (s *Server) allowed(p string) bool {
	for _, d := range s.opts.AllowDirs {
		if within(d, p) {
			return true
		}
	}
	return false
}

// within reports whether p is dir or below it (both clean and absolute).
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// uploadPath returns the file of upload id.
func (s *Server) uploadPath(id string) (string, *apiError) {
	if !uploadIDPattern.MatchString(id) {
		return "", errorf(http.StatusBadRequest, "upload id %q is malformed", id)
	}
	dir := filepath.Join(s.opts.DataDir, "uploads", id)
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		return "", errorf(http.StatusNotFound, "upload %s does not exist", id)
	}
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			return filepath.Join(dir, e.Name()), nil
		}
	}
	return "", errorf(http.StatusNotFound, "upload %s is incomplete", id)
}

// redact hides a URL's password.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// serverOnlyOptions are configuration keys a job may not set: they choose
// native libraries, directories or the server's logging.
var serverOnlyOptions = map[string]bool{
	"runtime.ort_library": true, "models.dir": true, "models.mirror": true, "log.level": true, "log.format": true,
	// Limits protect the server from its clients.
	"track.max_prompts": true, "track.max_frame_prompts": true, "video.max_pixels": true,
}

// pathOptions are keys whose values are files, confined like inputs.
var pathOptions = map[string]bool{"sam.encoder": true, "sam.decoder": true, "track.propagator": true, "remove.model": true}

// flattenOptions turns {"track": {"sam_gap": 5}} into {"track.sam_gap": 5}
// (both forms may be mixed) and applies the option rules.
func (s *Server) flattenOptions(in map[string]any) (map[string]any, *apiError) {
	out := map[string]any{}
	var walk func(prefix string, m map[string]any) *apiError
	walk = func(prefix string, m map[string]any) *apiError {
		for k, v := range m {
			key := strings.ToLower(k)
			if prefix != "" {
				key = prefix + "." + key
			}
			if sub, ok := v.(map[string]any); ok {
				if err := walk(key, sub); err != nil {
					return err
				}
				continue
			}
			if _, dup := out[key]; dup {
				return errorf(http.StatusBadRequest, "options: %q is given twice", key)
			}
			out[key] = v
		}
		return nil
	}
	if err := walk("", in); err != nil {
		return nil, err
	}
	for k, v := range out {
		if serverOnlyOptions[k] {
			return nil, errorf(http.StatusBadRequest, "options: %q is the server's setting and cannot be set per job", k)
		}
		if pathOptions[k] {
			str, ok := v.(string)
			if !ok {
				return nil, errorf(http.StatusBadRequest, "options: %q wants a string", k)
			}
			if str == "" || (k == "track.propagator" && str == "builtin") {
				continue
			}
			p, err := s.confine(str, "option "+k)
			if err != nil {
				return nil, err
			}
			out[k] = p
		}
	}
	return out, nil
}

// checkURL applies the address guard to a URL input and words its refusal
// for the client.
func (s *Server) checkURL(input string, u *url.URL) (string, *apiError) {
	src, err := s.guard.CheckURL(s.ctx, input, u)
	var unresolved *netguard.UnresolvedError
	var bad *netguard.BadURLError
	switch {
	case err == nil:
		return src, nil
	case errors.As(err, &unresolved):
		return "", errorf(http.StatusBadRequest, "input URL %s: cannot resolve %q; check the host name", redact(input), unresolved.Host)
	case errors.As(err, &bad):
		return "", errorf(http.StatusBadRequest, "input URL %s: %v", redact(input), bad.Err)
	default:
		return "", refusal(input, err)
	}
}

// refusal is the 403 of a refused URL. It names the address, never what a
// remote server answered.
func refusal(input string, err error) *apiError {
	var ra *netguard.RefusedAddr
	what := "a non-public address"
	if errors.As(err, &ra) {
		what = ra.Addr.String() + ", a loopback, link-local, private or otherwise non-public address"
	}
	return errorf(http.StatusForbidden, "input URL %s leads to %s; this server only fetches public addresses unless the network is allowed with --allow-net (for example --allow-net 10.0.0.0/8)", redact(input), what)
}
