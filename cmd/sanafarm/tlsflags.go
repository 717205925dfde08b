package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/pflag"

	"github.com/sanafarm/sanafarm/coordinator"
	"github.com/sanafarm/sanafarm/coordinator/client"
)

// This file holds the TLS flags of the daemons: the cluster CA of the
// coordinators (Raft and forwarded writes), the API's certificate, etcd
// client certificates and the Raft timeouts. docs/deploy.md ("Security")
// lists what each one protects.

// clusterTLSFlags are --cluster-ca, --cluster-cert and --cluster-key.
type clusterTLSFlags struct{ ca, cert, key string }

func (f *clusterTLSFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.ca, "cluster-ca", "", "cluster CA (PEM): Raft and forwarded writes use mutual TLS, peers must hold a certificate of it (unset: plaintext, development only)")
	fl.StringVar(&f.cert, "cluster-cert", "", "this coordinator's certificate of the cluster CA (PEM; server and client auth)")
	fl.StringVar(&f.key, "cluster-key", "", "the key of --cluster-cert (PEM)")
}

// config loads the cluster TLS (nil when no flag is set).
func (f clusterTLSFlags) config() (*tls.Config, error) {
	if f.ca == "" && f.cert == "" && f.key == "" {
		return nil, nil
	}
	if f.ca == "" || f.cert == "" || f.key == "" {
		return nil, usagef("--cluster-ca %q, --cluster-cert %q, --cluster-key %q: set all three or none", f.ca, f.cert, f.key)
	}
	return coordinator.LoadClusterTLS(f.ca, f.cert, f.key)
}

// apiTLSFlags are --tls-cert and --tls-key: the API served over HTTPS.
type apiTLSFlags struct{ cert, key string }

func (f *apiTLSFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.cert, "tls-cert", "", "serve the API over HTTPS with this certificate (PEM; with cluster TLS it must be of the cluster CA, see --advertise)")
	fl.StringVar(&f.key, "tls-key", "", "the key of --tls-cert (PEM)")
}

func (f apiTLSFlags) config() (*tls.Config, error) {
	if f.cert == "" && f.key == "" {
		return nil, nil
	}
	if f.cert == "" || f.key == "" {
		return nil, usagef("--tls-cert %q, --tls-key %q: set both or neither", f.cert, f.key)
	}
	c, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.cert, f.key, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}, nil
}

// etcdTLSFlags are --etcd-ca, --etcd-cert and --etcd-key.
type etcdTLSFlags struct{ ca, cert, key string }

func (f *etcdTLSFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.ca, "etcd-ca", "", "CA of etcd's server certificate (PEM; default: the system roots when an endpoint is https)")
	fl.StringVar(&f.cert, "etcd-cert", "", "client certificate presented to etcd (PEM; for etcd with client-cert-auth)")
	fl.StringVar(&f.key, "etcd-key", "", "the key of --etcd-cert (PEM)")
}

// config is etcd's client TLS (nil when no flag is set: plain, or https
// endpoints verified against the system roots).
func (f etcdTLSFlags) config() (*tls.Config, error) {
	if f.ca == "" && f.cert == "" && f.key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pool, err := loadPool(f.ca)
		if err != nil {
			return nil, fmt.Errorf("--etcd-ca: %w", err)
		}
		cfg.RootCAs = pool
	}
	if (f.cert == "") != (f.key == "") {
		return nil, usagef("--etcd-cert %q, --etcd-key %q: set both or neither", f.cert, f.key)
	}
	if f.cert != "" {
		c, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert %s, --etcd-key %s: %w", f.cert, f.key, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// loadPool reads a PEM bundle of CA certificates.
func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// registerRaftTimeouts adds the --raft-*-timeout flags (today's values as defaults).
func registerRaftTimeouts(fl *pflag.FlagSet, t *coordinator.RaftTimeouts) {
	d := coordinator.DefaultRaftTimeouts
	fl.DurationVar(&t.Heartbeat, "raft-heartbeat-timeout", d.Heartbeat, "a follower without word from the leader this long starts an election")
	fl.DurationVar(&t.Election, "raft-election-timeout", d.Election, "a candidate without a result this long retries (at least the heartbeat timeout)")
	fl.DurationVar(&t.LeaderLease, "raft-leader-lease-timeout", d.LeaderLease, "a leader out of touch with a quorum this long steps down (at most the heartbeat timeout)")
	fl.DurationVar(&t.Commit, "raft-commit-timeout", d.Commit, "longest wait before an entry is sent to the followers")
}

// caCertOption makes an API client trust the CA in caFile ("" = the
// system roots). A file that cannot be read fails every request with the
// reason (apiFlags.check reports it first as a usage error).
func caCertOption(caFile string) client.Option {
	return func(c *client.Client) {
		if caFile == "" {
			return
		}
		pool, err := loadPool(caFile)
		if err != nil {
			c.HTTP.Transport = failingTransport{fmt.Errorf("--ca-cert %s: %w", caFile, err)}
			return
		}
		client.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})(c)
	}
}

type failingTransport struct{ err error }

func (t failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, t.err }
