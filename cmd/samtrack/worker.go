package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"samtrack/internal/natsbus"
	"samtrack/service"
)

// worker runs a cluster's file jobs and cameras (docs/SCALE.md).
func (a *app) worker(ctx context.Context, args []string) error {
	fs, cfgFile := flagSet("worker")
	nats := natsFlags(fs, "NATS server or cluster of the samtrack serve --nats this worker serves (required)")
	data := fs.String("data", "", "the data directory samtrack serve uses (--data), shared with it: outputs, resume journals, uploads (required)")
	name := fs.String("name", "", "this worker's name in job records and leases (default HOST-PID)")
	maxJobs := fs.Int("max-jobs", 1, "file jobs that run at once (0: none)")
	maxLive := fs.Int("max-live", 4, "live cameras this worker holds at most (0: none)")
	nets := fs.StringArray("allow-net", nil, "network URL inputs may reach besides public addresses (repeatable; as serve's --allow-net)")
	copts := clusterFlags(fs)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("worker: unexpected argument %q", fs.Arg(0))
	}
	if nats.URL == "" || *data == "" {
		return usageErr("worker: give --nats URL (the cluster's NATS) and --data DIR (the directory shared with samtrack serve)")
	}
	if _, err := a.load(*cfgFile, nil); err != nil {
		return err
	}
	w, err := service.NewWorker(service.WorkerOptions{
		NATS: *nats, DataDir: *data, Name: *name, MaxJobs: *maxJobs, MaxLive: *maxLive,
		AllowNets: *nets, Cluster: *copts, Logger: a.log,
	})
	if err != nil {
		return exitError{code: 2, err: err}
	}
	defer w.Close()
	if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}

// natsFlags adds the NATS connection flags (URL, credentials, TLS).
func natsFlags(fs *pflag.FlagSet, urlHelp string) *natsbus.ClientOptions {
	var o natsbus.ClientOptions
	fs.StringVar(&o.URL, "nats", "", urlHelp)
	fs.StringVar(&o.CredsFile, "nats-creds", "", "NATS credentials file (JWT and nkey seed) for --nats")
	fs.StringVar(&o.NKeyFile, "nats-nkey", "", "NATS nkey seed file for --nats")
	fs.StringVar(&o.TLSCA, "nats-tls-ca", "", "CA certificate that verifies the --nats servers")
	fs.StringVar(&o.TLSCert, "nats-tls-cert", "", "client certificate for --nats (with --nats-tls-key)")
	fs.StringVar(&o.TLSKey, "nats-tls-key", "", "client key for --nats-tls-cert")
	return &o
}

// clusterFlags adds the settings serve and every worker of a cluster share.
func clusterFlags(fs *pflag.FlagSet) *service.ClusterOptions {
	var o service.ClusterOptions
	fs.DurationVar(&o.AckWait, "ack-wait", 0, "cluster: how long a file job may go without a sign of life from its worker before another resumes it (default 30s; the same on serve and every worker)")
	fs.DurationVar(&o.LeaseTTL, "lease-ttl", 0, "cluster: how long a camera's lease lasts unrenewed; a dead worker's cameras move within about 1.3x this (default 5s; the same everywhere)")
	return &o
}
