// Package netguard keeps samtrack serve's URL inputs off the server's own
// networks (server-side request forgery): it decides which addresses a
// URL may reach (public unicast, plus networks allowed with --allow-net),
// checks a URL when a job is created (resolving and pinning non-HTTP
// schemes, probing HTTP ones through a checked dialer), and runs the HTTP
// proxy on 127.0.0.1 through which FFmpeg fetches http and https inputs,
// so that every connection FFmpeg makes is checked where it connects. Its
// errors say what was refused; the service turns them into API answers.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Guard keeps URL inputs off the server's own networks (server-side
// request forgery): by default a URL input may only reach public unicast
// addresses; --allow-net adds chosen networks (cameras on a LAN). The
// address checked is the one actually connected to, after DNS and after
// redirects:
//
//   - Go-side connections (the check when a job is created) dial through
//     a net.Dialer whose Control hook refuses a non-permitted address;
//   - FFmpeg fetches http and https inputs through the guard's own HTTP
//     proxy on 127.0.0.1 (FFmpeg's http_proxy option; https through
//     CONNECT), which dials with the same checked dialer, so every request
//     FFmpeg makes, redirects and playlist segments included, is checked
//     when it connects;
//   - other schemes (rtsp, ...) cannot go through a proxy: their host is
//     resolved and checked when the job is created and the job is pinned
//     to the checked address.
type Guard struct {
	allow  []netip.Prefix
	dialer *net.Dialer
	client *http.Client // the creation-time check
	// ProxyURL is the proxy FFmpeg is to fetch http(s) inputs through.
	ProxyURL string
	ln       net.Listener
	srv      *http.Server
	tunnels  sync.WaitGroup
	closing  chan struct{}
}

// ErrNotPublic is wrapped by every refusal of an address.
var ErrNotPublic = errors.New("address not allowed")

// RefusedAddr is the address a refusal was about.
type RefusedAddr struct{ Addr netip.Addr }

func (e *RefusedAddr) Error() string {
	return fmt.Sprintf("%s is a loopback, link-local, private or otherwise non-public address", e.Addr)
}

// Unwrap is ErrNotPublic.
func (e *RefusedAddr) Unwrap() error { return ErrNotPublic }

// nonPublic are special-purpose ranges that netip's predicates do not
// cover (RFC 6890 and successors); it is never written.
var nonPublic = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
		"2001::/23", "2001:db8::/32", "2002::/16", "fec0::/10"} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// ParseAllowNets reads --allow-net values: CIDR prefixes or single
// addresses.
func ParseAllowNets(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("--allow-net %q: want a network such as 10.0.0.0/8 or an address such as 192.168.1.20", v)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// New starts a guard that also permits the networks allow; timeout bounds
// its dials, TLS handshakes and the wait for answers. Close it.
func New(allow []netip.Prefix, timeout time.Duration) (*Guard, error) {
	g := &Guard{allow: allow, closing: make(chan struct{})}
	g.dialer = &net.Dialer{Timeout: timeout, Control: g.control}
	tr := &http.Transport{DialContext: g.dialer.DialContext, Proxy: nil, TLSHandshakeTimeout: timeout,
		ResponseHeaderTimeout: timeout, MaxIdleConns: 16, IdleConnTimeout: 30 * time.Second}
	g.client = &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("more than 10 redirects")
		}
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return fmt.Errorf("redirect to a %s URL", s)
		}
		return nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the URL address guard: %w", err)
	}
	g.ln, g.ProxyURL = ln, "http://"+ln.Addr().String()
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serveProxy), ReadHeaderTimeout: timeout}
	go g.srv.Serve(ln)
	return g, nil
}

// Close stops the proxy and waits for its tunnels.
func (g *Guard) Close() error {
	close(g.closing)
	err := g.srv.Close()
	g.tunnels.Wait()
	g.client.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// permitted reports whether a connection to ip is allowed.
func (g *Guard) permitted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() ||
		ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// control is the dialer's hook: it sees the address about to be connected
// to, after name resolution.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("address guard: unexpected address %q: %w", address, ErrNotPublic)
	}
	if !g.permitted(ap.Addr()) {
		return &RefusedAddr{ap.Addr().Unmap()}
	}
	return nil
}

// UnresolvedError says a URL's host name did not resolve.
type UnresolvedError struct {
	Host string
	Err  error
}

func (e *UnresolvedError) Error() string { return fmt.Sprintf("cannot resolve %q: %v", e.Host, e.Err) }

// Unwrap is the resolver's error.
func (e *UnresolvedError) Unwrap() error { return e.Err }

// BadURLError says a URL cannot be requested at all.
type BadURLError struct{ Err error }

func (e *BadURLError) Error() string { return e.Err.Error() }

// Unwrap is the request's error.
func (e *BadURLError) Unwrap() error { return e.Err }

// CheckURL applies the guard to the URL input (u parsed) when a job (or a
// frame or segment request) is created. It returns the source the pipeline
// opens: http(s) URLs unchanged (FFmpeg fetches them through the guard's
// proxy), other schemes pinned to the checked address. Its errors are an
// *UnresolvedError, a *BadURLError, or one wrapping ErrNotPublic (with a
// *RefusedAddr when the address is known).
func (g *Guard) CheckURL(ctx context.Context, input string, u *url.URL) (string, error) {
	host := u.Hostname()
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return "", &UnresolvedError{Host: host, Err: err}
	}
	for _, a := range addrs {
		if !g.permitted(a) {
			return "", &RefusedAddr{a.Unmap()}
		}
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return input, g.probe(ctx, input)
	}
	pinned := *u
	a := addrs[0].Unmap()
	hostport := a.String()
	if a.Is6() {
		hostport = "[" + hostport + "]"
	}
	if p := u.Port(); p != "" {
		hostport = net.JoinHostPort(a.String(), p)
	}
	pinned.Host = hostport
	return pinned.String(), nil
}

func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.dialer.Timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no address")
	}
	return addrs, err
}

// probe requests an http(s) URL through the checked dialer, following
// redirects, and refuses it when a connection was refused by the guard.
// Other failures are left to the job (the server may come up later), and
// nothing of the answer is kept.
func (g *Guard) probe(ctx context.Context, input string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, input, nil)
	if err != nil {
		return &BadURLError{err}
	}
	req.Header.Set("Range", "bytes=0-0")
	resp, err := g.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrNotPublic) {
			return err
		}
		return nil
	}
	resp.Body.Close()
	return nil
}

// serveProxy is the HTTP proxy FFmpeg fetches through: plain requests in
// absolute form, and CONNECT tunnels for https.
func (g *Guard) serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		g.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" {
		http.Error(w, "samtrack address guard: only proxy requests", http.StatusBadRequest)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(h)
	}
	resp, err := g.client.Transport.RoundTrip(out)
	if err != nil {
		guardError(w, err)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	// Flush as data arrives: a live http stream (MJPEG) must not wait for
	// a buffer to fill.
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func guardError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotPublic) {
		http.Error(w, "samtrack address guard: "+err.Error(), http.StatusForbidden)
		return
	}
	http.Error(w, "samtrack address guard: the connection failed", http.StatusBadGateway)
}

// tunnel serves CONNECT: it dials the target with the checked dialer and
// copies bytes both ways.
func (g *Guard) tunnel(w http.ResponseWriter, r *http.Request) {
	dst, err := g.dialer.DialContext(r.Context(), "tcp", r.Host)
	if err != nil {
		guardError(w, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		dst.Close()
		http.Error(w, "samtrack address guard: cannot tunnel", http.StatusInternalServerError)
		return
	}
	src, buf, err := hj.Hijack()
	if err != nil {
		dst.Close()
		return
	}
	g.tunnels.Add(1)
	go func() {
		defer g.tunnels.Done()
		if _, err := src.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
			src.Close()
			dst.Close()
			return
		}
		done := make(chan struct{}, 2)
		go func() { io.Copy(dst, buf); done <- struct{}{} }()
		go func() { io.Copy(src, dst); done <- struct{}{} }()
		pending := 2
		select {
		case <-done:
			pending--
		case <-g.closing:
		}
		src.Close() // ends the other copy
		dst.Close()
		for ; pending > 0; pending-- {
			<-done
		}
	}()
}
