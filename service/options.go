// Package service owns `samtrack serve`: an HTTP JSON API under /api/v1
// that runs tracking jobs through package pipeline (so a job behaves exactly
// like `samtrack track`), keeps their records in a job store (NATS
// JetStream's key-value bucket through internal/jobstore: an embedded NATS
// server by default, or an external one) so that the job list survives restarts and
// unfinished file jobs resume from their last finished frame, bounds how
// many jobs run and wait (internal/queue), streams progress and object
// events (Server-Sent Events) and overlay frames (JPEG, MJPEG) through
// internal/streams, answers interactive segmentation requests with a
// per-frame cache, exposes Prometheus metrics (internal/metrics), and
// enforces the service's security rules: an API token (required unless it
// listens on loopback only), request and upload size limits, file inputs
// confined to allowed directories and URL inputs to allowed schemes and to
// public addresses (or --allow-net networks), checked where they connect
// (internal/netguard), uploads probed on arrival, and error text that never
// shows the server's paths (internal/publictext). The handlers reach the job
// store and the queue only through the small interfaces in store.go. The web
// page in service/web is mounted by the caller through Options.Web.
// docs/API.md documents the API and docs/SECURITY.md its limits.
package service

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"samtrack/internal/natsbus"
	"samtrack/internal/netguard"
	"samtrack/video"
)

// Options configure a Server. Zero fields take the defaults noted.
type Options struct {
	// Listen is the TCP address (default 127.0.0.1:8080).
	Listen string
	// DataDir holds the job database, the jobs' outputs and uploads
	// (required).
	DataDir string
	// AllowDirs are the directories file inputs (and prompt masks, model
	// files) may come from, symlinks resolved. None: only uploads.
	AllowDirs []string
	// allowNames are AllowDirs as configured (AllowDirs are resolved):
	// what clients are shown.
	allowNames []string
	// AllowSchemes are the URL schemes inputs may use (default rtsp,
	// http, https). "file" is never allowed.
	AllowSchemes []string
	// AllowNets are networks (CIDR, or single addresses) URL inputs may
	// reach besides public addresses (--allow-net); by default loopback,
	// link-local, private and other non-public addresses are refused.
	AllowNets []string
	allowNets []netip.Prefix
	// Token is the API token clients send as "Authorization: Bearer
	// TOKEN". It is required when Listen is not a loopback address.
	Token string
	// MaxParallel is how many jobs run at once (default 1).
	MaxParallel int
	// MaxQueue is how many jobs may wait; a job beyond it is refused with
	// 503 (default 16).
	MaxQueue int
	// MaxLive is how many live jobs (cameras) run at once, besides
	// MaxParallel file jobs: a live job never ends by itself, so it does
	// not wait in the queue but starts at once or is refused with 503
	// (default 4).
	MaxLive int
	// MaxRequestBytes bounds JSON request bodies (default 1 MiB);
	// MaxUploadBytes bounds uploaded files (default 2 GiB). Larger bodies
	// get 413.
	MaxRequestBytes, MaxUploadBytes int64
	// MaxStreams bounds the open event and MJPEG streams (default 64).
	MaxStreams int
	// MaxResumes is how many times a job that was running when the server
	// died (crash, kill -9) is resumed before it is marked failed
	// (default 3). A graceful shutdown does not count.
	MaxResumes int
	// ConfigFile is the configuration file every job's options layer on
	// ("" : $SAMTRACK_CONFIG or none), and Environ the environment (nil:
	// os.Environ()).
	ConfigFile string
	Environ    []string
	// Live are the defaults of live jobs' sources (a job's "live" object
	// overrides them). Zero fields: a maximum backoff of 4 s with 20 %
	// jitter and video's other defaults.
	Live video.LiveOptions
	// ShutdownTimeout bounds a graceful shutdown (default 30 s).
	ShutdownTimeout time.Duration
	// Web, when set, serves every path outside /api/, /healthz and
	// /metrics (the web page); it is reachable without the token.
	Web http.Handler
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
	// NATS is where job state lives: an external NATS server or cluster with
	// JetStream (URL, credentials, TLS); with no URL the server starts its
	// own embedded NATS server, storing under DataDir/nats.
	NATS natsbus.ClientOptions
	// NATSListen is the embedded NATS server's client address (default
	// 127.0.0.1:0, a free port on loopback).
	NATSListen string
	// Cluster runs file jobs and cameras on the workers of a cluster
	// (`samtrack worker`, sharing DataDir and NATS) instead of in this
	// process: file jobs through the JetStream work queue, cameras under
	// leases. Unless NoLocalWorker, this process runs one of the workers
	// (MaxParallel file jobs, MaxLive cameras).
	Cluster        bool
	NoLocalWorker  bool
	ClusterOptions ClusterOptions
}

// Defaults.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultMaxQueue        = 16
	DefaultMaxLive         = 4
	DefaultMaxRequestBytes = 1 << 20
	DefaultMaxUploadBytes  = 2 << 30
	DefaultMaxStreams      = 64
	DefaultMaxResumes      = 3
)

// withDefaults fills in the defaults and checks the options, in the
// order their errors are reported.
func (o Options) withDefaults() (Options, error) {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.DataDir == "" {
		return o, errors.New("no data directory: give --data DIR")
	}
	for _, step := range []func(*Options) error{(*Options).checkSchemes, (*Options).checkLimits, (*Options).checkAccess} {
		if err := step(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// checkSchemes normalises the URL schemes and parses the allowed networks.
func (o *Options) checkSchemes() error {
	if len(o.AllowSchemes) == 0 {
		o.AllowSchemes = []string{"rtsp", "http", "https"}
	}
	for i, s := range o.AllowSchemes {
		s = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "://"))
		if s == "file" {
			return errors.New("--allow-scheme file: file inputs are confined with --allow-dir instead")
		}
		if s == "" {
			return errors.New("--allow-scheme: empty scheme")
		}
		o.AllowSchemes[i] = s
	}
	nets, err := netguard.ParseAllowNets(o.AllowNets)
	if err != nil {
		return err
	}
	o.allowNets = nets
	return nil
}

// checkLimits fills in and checks the bounds on jobs, requests, streams
// and live reconnection.
func (o *Options) checkLimits() error {
	if o.MaxParallel == 0 {
		o.MaxParallel = 1
	}
	if o.MaxParallel < 0 || o.MaxParallel > 64 {
		return fmt.Errorf("max parallel jobs %d: want 1 to 64", o.MaxParallel)
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = DefaultMaxQueue
	}
	if o.MaxQueue < 0 {
		return fmt.Errorf("max queued jobs %d: want 1 or more", o.MaxQueue)
	}
	if o.MaxLive == 0 {
		o.MaxLive = DefaultMaxLive
	}
	if o.MaxLive < 0 {
		return fmt.Errorf("max live jobs %d: want 1 or more", o.MaxLive)
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.MaxUploadBytes == 0 {
		o.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if o.MaxRequestBytes < 0 || o.MaxUploadBytes < 0 {
		return errors.New("request and upload size limits must be positive")
	}
	if o.MaxStreams == 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	o.ClusterOptions = o.ClusterOptions.withDefaults()
	if o.MaxResumes == 0 {
		o.MaxResumes = DefaultMaxResumes
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.Live.MaxBackoff == 0 {
		o.Live.MaxBackoff = 4 * time.Second
		if o.Live.Jitter == 0 {
			o.Live.Jitter = 0.2
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// checkAccess checks the token rule and resolves the data and allowed
// directories.
func (o *Options) checkAccess() error {
	if o.Token != "" && len(o.Token) < 16 {
		return errors.New("the API token is shorter than 16 characters; use a long random one (e.g. `openssl rand -hex 24`)")
	}
	loop, err := loopbackOnly(o.Listen)
	if err != nil {
		return err
	}
	if !loop && o.Token == "" {
		return fmt.Errorf("--listen %s is reachable from other machines, so an API token is required: give --token-file FILE (or --token), or listen on 127.0.0.1", o.Listen)
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", o.DataDir, err)
	}
	o.DataDir = abs
	dirs := make([]string, 0, len(o.AllowDirs))
	o.allowNames = make([]string, 0, len(o.AllowDirs))
	for _, d := range o.AllowDirs {
		real, err := realDir(d)
		if err != nil {
			return fmt.Errorf("--allow-dir %s: %w", d, err)
		}
		if !slices.Contains(dirs, real) {
			dirs = append(dirs, real)
			o.allowNames = append(o.allowNames, filepath.Clean(d))
		}
	}
	o.AllowDirs = dirs
	return nil
}

// loopbackOnly reports whether addr's host only reaches this machine.
func loopbackOnly(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("--listen %q: %w; want HOST:PORT such as 127.0.0.1:8080", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		if host == "" {
			return false, nil // every interface
		}
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return false, fmt.Errorf("--listen %q: cannot resolve %s: %v", addr, host, err)
		}
		for _, ip := range ips {
			if !ip.IsLoopback() {
				return false, nil
			}
		}
		return true, nil
	}
	return ip.IsLoopback(), nil
}

// realDir resolves a directory to its absolute path without symlinks.
func realDir(d string) (string, error) {
	abs, err := filepath.Abs(d)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("%w; give an existing directory", err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", errors.New("not a directory")
	}
	return real, nil
}
