package service

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

// netGuard keeps URL inputs off the server's own networks (server-side
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
type netGuard struct {
	allow  []netip.Prefix
	dialer *net.Dialer
	client *http.Client // the creation-time check
	// proxyURL is the proxy FFmpeg uses; ln and srv serve it.
	proxyURL string
	ln       net.Listener
	srv      *http.Server
	tunnels  sync.WaitGroup
	closing  chan struct{}
}

// errNotPublic is wrapped by every refusal of an address.
var errNotPublic = errors.New("address not allowed")

// refusedAddr is the address a refusal was about.
type refusedAddr struct{ addr netip.Addr }

func (e *refusedAddr) Error() string {
	return fmt.Sprintf("%s is a loopback, link-local, private or otherwise non-public address", e.addr)
}
func (e *refusedAddr) Unwrap() error { return errNotPublic }

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

// parseAllowNets reads --allow-net values: CIDR prefixes or single
// addresses.
func parseAllowNets(vals []string) ([]netip.Prefix, error) {
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

func newNetGuard(allow []netip.Prefix, timeout time.Duration) (*netGuard, error) {
	g := &netGuard{allow: allow, closing: make(chan struct{})}
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
	g.ln, g.proxyURL = ln, "http://"+ln.Addr().String()
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serveProxy), ReadHeaderTimeout: timeout}
	go g.srv.Serve(ln)
	return g, nil
}

// close stops the proxy and waits for its tunnels.
func (g *netGuard) close() error {
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
func (g *netGuard) permitted(ip netip.Addr) bool {
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
func (g *netGuard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("address guard: unexpected address %q: %w", address, errNotPublic)
	}
	if !g.permitted(ap.Addr()) {
		return &refusedAddr{ap.Addr().Unmap()}
	}
	return nil
}

// refusal is the 403 of a refused URL. It names the address, never what a
// remote server answered.
func refusal(input string, err error) *apiError {
	var ra *refusedAddr
	what := "a non-public address"
	if errors.As(err, &ra) {
		what = ra.addr.String() + ", a loopback, link-local, private or otherwise non-public address"
	}
	return errorf(http.StatusForbidden, "input URL %s leads to %s; this server only fetches public addresses unless the network is allowed with --allow-net (for example --allow-net 10.0.0.0/8)", redact(input), what)
}

// checkURL applies the guard to a URL input when a job (or a frame or
// segment request) is created. It returns the source the pipeline opens:
// http(s) URLs unchanged (FFmpeg fetches them through the guard's proxy),
// other schemes pinned to the checked address.
func (g *netGuard) checkURL(ctx context.Context, input string, u *url.URL) (string, *apiError) {
	host := u.Hostname()
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "input URL %s: cannot resolve %q; check the host name", redact(input), host)
	}
	for _, a := range addrs {
		if !g.permitted(a) {
			return "", refusal(input, &refusedAddr{a.Unmap()})
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

func (g *netGuard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
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
func (g *netGuard) probe(ctx context.Context, input string) *apiError {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, input, nil)
	if err != nil {
		return errorf(http.StatusBadRequest, "input URL %s: %v", redact(input), err)
	}
	req.Header.Set("Range", "bytes=0-0")
	resp, err := g.client.Do(req)
	if err != nil {
		if errors.Is(err, errNotPublic) {
			return refusal(input, err)
		}
		return nil
	}
	resp.Body.Close()
	return nil
}

// serveProxy is the HTTP proxy FFmpeg fetches through: plain requests in
// absolute form, and CONNECT tunnels for https.
func (g *netGuard) serveProxy(w http.ResponseWriter, r *http.Request) {
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
	if errors.Is(err, errNotPublic) {
		http.Error(w, "samtrack address guard: "+err.Error(), http.StatusForbidden)
		return
	}
	http.Error(w, "samtrack address guard: the connection failed", http.StatusBadGateway)
}

// tunnel serves CONNECT: it dials the target with the checked dialer and
// copies bytes both ways.
func (g *netGuard) tunnel(w http.ResponseWriter, r *http.Request) {
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
