package deploy

import (
	"testing"

	"github.com/sanafarm/sanafarm/internal/tlstest"
)

// testTLS is what deploy/terraform/gen-tls.sh makes, for loopback, in one
// directory as on the droplets' /etc/sanafarm/tls: the cluster CA, the
// coordinators' certificate (server and client auth, localhost and
// 127.0.0.1) and the workers' client-only certificate.
type testTLS struct {
	Dir               string
	CA, Cert, Key     string // file paths
	NodeCert, NodeKey string
}

func writeTestTLS(t *testing.T) testTLS {
	t.Helper()
	ca := tlstest.NewCA(t, "sanafarm test CA")
	srv, node := ca.Server(t, "server"), ca.Client(t, "node")
	return testTLS{Dir: ca.Dir(), CA: ca.File, Cert: srv.Cert, Key: srv.Key, NodeCert: node.Cert, NodeKey: node.Key}
}
