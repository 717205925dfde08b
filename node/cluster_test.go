package node

import (
	"testing"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
)

// startEtcd runs an embedded single-member etcd and returns a client.
func startEtcd(t *testing.T) *clientv3.Client { return embedtest.Etcd(t) }

// startNATS runs an embedded NATS server and returns a connection.
func startNATS(t *testing.T) *nats.Conn { return embedtest.Conn(t, embedtest.NATS(t, 0)) }

func TestClusterHelpers(t *testing.T) {
	cli := startEtcd(t)
	if _, err := cli.Put(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	startNATS(t)
}
