package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"samtrack/service"
	"samtrack/service/web"
)

func (a *app) serve(ctx context.Context, args []string) error {
	fs, cfgFile := flagSet("serve")
	listen := fs.String("listen", service.DefaultListen, "address to listen on; anything but loopback requires a token")
	data := fs.String("data", "", "data directory: job database, outputs, uploads (default <user data dir>/samtrack/serve)")
	allow := fs.StringArray("allow-dir", nil, "directory file inputs may come from (repeatable; none: uploads only)")
	token := fs.String("token", "", "API token (visible in the process list; prefer --token-file)")
	tokenFile := fs.String("token-file", "", "file holding the API token")
	schemes := fs.StringSlice("allow-scheme", []string{"rtsp", "http", "https"}, "URL schemes inputs may use")
	nets := fs.StringArray("allow-net", nil, "network URL inputs may reach besides public addresses, e.g. 10.0.0.0/8 for cameras on a LAN (repeatable; default: loopback, link-local and private addresses are refused)")
	maxJobs := fs.Int("max-jobs", 1, "jobs that run at once")
	maxQueue := fs.Int("max-queue", service.DefaultMaxQueue, "jobs that may wait; more are refused with 503")
	maxLive := fs.Int("max-live", service.DefaultMaxLive, "live (camera) jobs that run at once, besides --max-jobs file jobs")
	maxUpload := fs.Int64("max-upload-mb", service.DefaultMaxUploadBytes>>20, "largest upload, in MiB (413 beyond)")
	maxRequest := fs.Int64("max-request-kb", service.DefaultMaxRequestBytes>>10, "largest JSON request body, in KiB (413 beyond)")
	nats := natsFlags(fs, "NATS server or cluster (with JetStream) that holds the job state and, with it, the cluster's work queue, e.g. nats://nats1:4222,nats://nats2:4222 (default: an embedded server storing under --data, every job in this process)")
	natsListen := fs.String("nats-listen", "127.0.0.1:0", "client address of the embedded NATS server (without --nats); port 0 picks a free one")
	cluster := fs.Bool("cluster", false, "run jobs on `samtrack worker` processes through NATS even with the embedded server (implied by --nats)")
	localWorker := fs.Bool("local-worker", true, "in a cluster, also run --max-jobs file jobs and --max-live cameras in this process")
	copts := clusterFlags(fs)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("serve: unexpected argument %q", fs.Arg(0))
	}
	if _, err := a.load(*cfgFile, nil); err != nil {
		return err
	}
	tok := *token
	if *tokenFile != "" {
		if tok != "" {
			return usageErr("serve: give --token or --token-file, not both")
		}
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return exitError{code: 2, err: fmt.Errorf("read --token-file: %w", err)}
		}
		tok = strings.TrimSpace(string(b))
		if tok == "" {
			return exitError{code: 2, err: fmt.Errorf("--token-file %s is empty", *tokenFile)}
		}
	}
	dir := *data
	if dir == "" {
		base := os.Getenv("XDG_DATA_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return usageErr("serve: no home directory (%v); give --data DIR", err)
			}
			base = filepath.Join(home, ".local", "share")
		}
		dir = filepath.Join(base, "samtrack", "serve")
	}
	if *maxUpload <= 0 || *maxRequest <= 0 {
		return usageErr("serve: --max-upload-mb and --max-request-kb must be positive")
	}
	srv, err := service.New(service.Options{
		Listen: *listen, DataDir: dir, AllowDirs: *allow, AllowSchemes: *schemes, AllowNets: *nets, Token: tok,
		MaxParallel: *maxJobs, MaxQueue: *maxQueue, MaxLive: *maxLive, MaxUploadBytes: *maxUpload << 20, MaxRequestBytes: *maxRequest << 10,
		ConfigFile: *cfgFile, Web: web.Handler(), Logger: a.log, NATS: *nats, NATSListen: *natsListen,
		Cluster: nats.URL != "" || *cluster, NoLocalWorker: !*localWorker, ClusterOptions: *copts,
	})
	if err != nil {
		return exitError{code: 2, err: fmt.Errorf("serve: %w", err)}
	}
	err = srv.ListenAndServe(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
