// Package natsbus owns samtrack's link to NATS JetStream, the engine the
// scale-out builds on: the embedded server that `samtrack serve` starts by
// default (JetStream storing under the data folder), the client connection to
// it or to an external cluster (credentials, nkey and TLS passed through), and
// the JetStream resources samtrack uses, each created here with its one
// configuration: the file-job work queue, the lease bucket that gives each
// live camera exactly one worker, and the job-state bucket. Nothing here knows
// about video or models; callers put their own payloads in.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EmbeddedOptions configures the in-process NATS server.
type EmbeddedOptions struct {
	// Dir is where JetStream stores streams and buckets (created if missing).
	Dir string
	// Listen is the client address, host:port; port 0 picks a free one.
	// Empty means 127.0.0.1:0, so that nothing outside the machine can reach it.
	Listen string
	// Name names the server (it appears in JetStream's metadata).
	Name string
}

// Embedded is a NATS server with JetStream running inside this process.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a NATS server with JetStream enabled and waits until it
// accepts connections.
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	if opts.Dir == "" {
		return nil, errors.New("natsbus: the embedded server needs a data folder (--data)")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("natsbus: create JetStream folder: %w", err)
	}
	host, port, err := splitListen(opts.Listen)
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = "samtrack"
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(opts.Dir, "jetstream"),
		// fsync every write, as the job database did: a power cut loses no
		// job state or queued job that was acknowledged.
		SyncAlways: true,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: configure embedded NATS server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsbus: embedded NATS server on %s did not become ready within 10 s (is the port in use?)", net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return &Embedded{srv: srv}, nil
}

func splitListen(listen string) (string, int, error) {
	if listen == "" {
		return "127.0.0.1", server.RANDOM_PORT, nil
	}
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("natsbus: listen address %q: %w (want host:port, for example 127.0.0.1:4222)", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("natsbus: listen address %q: port must be 0..65535", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// URL is the address clients (workers in other processes too) connect to.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Close shuts the server down and waits until it has stopped, so that its
// data folder can be reopened at once.
func (e *Embedded) Close() error {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	return nil
}

// ClientOptions says how to reach and authenticate to a NATS server.
type ClientOptions struct {
	URL string // nats://host:port, or several separated by commas
	// Name is the connection name the server shows (for example "samtrack worker 3").
	Name      string
	CredsFile string // a .creds file (JWT + nkey seed)
	NKeyFile  string // an nkey seed file
	TLSCA     string // CA certificate to verify the server
	TLSCert   string // client certificate (mutual TLS), with TLSKey
	TLSKey    string
}

// Conn is a client connection with its JetStream context.
type Conn struct {
	NC *nats.Conn
	JS jetstream.JetStream
}

// Connect connects to NATS and opens JetStream. It keeps reconnecting for
// ever after a lost connection (a restarted server is the normal case), and
// fails at once only when the first connection cannot be made.
func Connect(opts ClientOptions) (*Conn, error) {
	if opts.URL == "" {
		return nil, errors.New("natsbus: no NATS URL (pass --nats nats://host:4222)")
	}
	nopts, err := opts.natsOptions()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(opts.URL, nopts...)
	if err != nil {
		hint := ""
		if errors.Is(err, nats.ErrNoServers) {
			hint = "; check that the NATS server runs with JetStream (nats-server -js) and that the URL's host and port reach it"
		}
		return nil, fmt.Errorf("natsbus: connect to %s: %w%s", opts.URL, err, hint)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: JetStream on %s: %w", opts.URL, err)
	}
	return &Conn{NC: nc, JS: js}, nil
}

func (o ClientOptions) natsOptions() ([]nats.Option, error) {
	nopts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
	}
	if o.CredsFile != "" {
		nopts = append(nopts, nats.UserCredentials(o.CredsFile))
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("natsbus: nkey seed %s: %w", o.NKeyFile, err)
		}
		nopts = append(nopts, opt)
	}
	if o.TLSCA != "" {
		nopts = append(nopts, nats.RootCAs(o.TLSCA))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("natsbus: a client TLS certificate needs both --nats-tls-cert and --nats-tls-key")
	}
	if o.TLSCert != "" {
		nopts = append(nopts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	return nopts, nil
}

// Close drains nothing and closes the connection.
func (c *Conn) Close() error {
	c.NC.Close()
	return nil
}

// ensureTimeout bounds each JetStream administration call.
const ensureTimeout = 10 * time.Second

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, ensureTimeout)
}

// bucket creates (or opens, updating its settings) a file-stored key-value
// bucket keeping only each key's latest value; ttl > 0 expires a key that
// long after its last write.
func (c *Conn) bucket(ctx context.Context, name string, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := c.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  name,
		TTL:     ttl,
		History: 1,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: bucket %s: %w", name, err)
	}
	return kv, nil
}
