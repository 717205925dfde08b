package embedded_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/internal/tlstest"
)

// TestEtcdTLSConfig: a TLS setting without its certificate or key is
// refused before etcd starts, naming the missing file.
func TestEtcdTLSConfig(t *testing.T) {
	ca := tlstest.NewCA(t, "test sanafarm CA")
	srv := ca.Server(t, "server")
	for _, c := range []struct {
		name string
		tls  embedded.EtcdTLS
		want []string // in the error
	}{
		{"no key", embedded.EtcdTLS{CertFile: srv.Cert, ClientCAFile: ca.File}, []string{"CertFile", "KeyFile"}},
		{"no certificate", embedded.EtcdTLS{KeyFile: srv.Key, ClientCAFile: ca.File}, []string{"CertFile", "KeyFile"}},
		{"client auth without a CA", embedded.EtcdTLS{CertFile: srv.Cert, KeyFile: srv.Key, ClientCertAuth: true},
			[]string{"ClientCertAuth", "ClientCAFile"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := embedded.StartEtcd(t.Context(), embedded.EtcdConfig{Dir: t.TempDir(), TLS: &c.tls})
			if err == nil {
				e.Close()
				t.Fatal("etcd started")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not name %s", err, w)
				}
			}
		})
	}
}

// TestEtcdTLS: with TLS the client listener is https: a client with the
// CA and a client certificate works, and Client, which has neither,
// refuses instead of handing back a client whose calls all fail.
func TestEtcdTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "test sanafarm CA")
	srv, node := ca.Server(t, "server"), ca.Client(t, "test sanafarm node")
	e, err := embedded.StartEtcd(t.Context(), embedded.EtcdConfig{Dir: t.TempDir(), TLS: &embedded.EtcdTLS{
		CertFile: srv.Cert, KeyFile: srv.Key, ClientCAFile: ca.File, ClientCertAuth: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if cli, err := e.Client(); err == nil {
		cli.Close()
		t.Error("Client dialled a TLS server without certificates")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{node.Pair(t)}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/k", "v"); err != nil {
		t.Fatalf("put over TLS: %v", err)
	}
}
