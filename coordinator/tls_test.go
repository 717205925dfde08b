package coordinator

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/internal/tlstest"
)

// clusterTLS loads files as a coordinator's cluster TLS config.
func clusterTLS(t *testing.T, f tlstest.Files) *tls.Config {
	t.Helper()
	cfg, err := LoadClusterTLS(f.CA, f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startTLSCluster runs 3 voters with mutual TLS on Raft and HTTPS on the
// API, every certificate from ca.
func startTLSCluster(t *testing.T, ca *tlstest.CA) *testCluster {
	t.Helper()
	return startCluster(t, 3, func(cfg *Config) {
		f := ca.Server(t, cfg.ID)
		cfg.ClusterTLS = clusterTLS(t, f)
		cfg.APITLS = &tls.Config{Certificates: []tls.Certificate{f.Pair(t)}}
	})
}

// TestClusterTLSElectsReplicatesForwards: three voters with mutual TLS
// elect a leader, a write sent to a follower is forwarded over mutual TLS
// to the leader, and every voter applies it.
func TestClusterTLSElectsReplicatesForwards(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	c := startTLSCluster(t, ca)
	lead := c.leader(10 * time.Second)
	follower := c.members[(lead+1)%3].srv
	if !strings.HasPrefix(follower.URL(), "https://") {
		t.Fatalf("advertised url %q: want https with APITLS", follower.URL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitFor(t, 10*time.Second, "the follower to learn the leader url", func() bool {
		_, err := follower.LeaderURL(ctx)
		return err == nil
	})
	cl := client.New(follower.URL(), clusterToken)
	cl.HTTP = &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	job, err := cl.SubmitJob(ctx, testSpec(4))
	if err != nil {
		t.Fatalf("submit through a follower (forwarded over mtls): %v", err)
	}
	for i, m := range c.members {
		waitFor(t, 10*time.Second, "the job on every voter", func() bool {
			_, ok := m.srv.Store().JobByID(job.ID)
			return ok
		})
		_ = i
	}
}

// TestRaftRejectsUntrustedPeers: with cluster TLS, a peer without a
// certificate, with one from another CA, with a node's client-only
// certificate of the cluster CA, or speaking plaintext cannot append
// entries: the request fails and nothing is applied.
func TestRaftRejectsUntrustedPeers(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	c := startTLSCluster(t, ca)
	lead := c.leader(10 * time.Second)
	target := c.members[(lead+1)%3].srv
	other := tlstest.NewCA(t, "other CA")
	plain := func(t *testing.T, ln net.Listener) raft.StreamLayer { return &streamLayer{Listener: ln} }
	withTLS := func(cfg *tls.Config) func(*testing.T, net.Listener) raft.StreamLayer {
		return func(_ *testing.T, ln net.Listener) raft.StreamLayer {
			return &tlsStreamLayer{Listener: ln, cfg: cfg, log: testLogger()}
		}
	}
	nodeCert := ca.Client(t, "node")
	for _, tc := range []struct {
		name   string
		stream func(*testing.T, net.Listener) raft.StreamLayer
	}{
		{"plaintext", plain},
		{"no client certificate", withTLS(&tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13})},
		{"certificate of another CA", withTLS(clusterTLSFrom(t, other.Server(t, "intruder"), ca))},
		{"node certificate of the cluster CA", withTLS(clusterTLSFrom(t, nodeCert, ca))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := forgeAppend(t, tc.stream, target)
			if err == nil {
				t.Fatal("forged AppendEntries accepted")
			}
			t.Logf("rejected: %v", err)
			// The forged term would have been adopted had raft seen it.
			if term := target.getRaft().Stats()["term"]; term == strconv.Itoa(1<<40) {
				t.Fatalf("the target adopted the forged term %s", term)
			}
		})
	}
	if lead2 := c.leader(5 * time.Second); lead2 < 0 {
		t.Fatal("cluster lost its leader")
	}
}

// clusterTLSFrom is f's certificate trusting ca (a config that may pass
// the server check but must fail the client check).
func clusterTLSFrom(t *testing.T, f tlstest.Files, ca *tlstest.CA) *tls.Config {
	t.Helper()
	return &tls.Config{Certificates: []tls.Certificate{f.Pair(t)}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13}
}

// forgeAppend sends target one AppendEntries with an undecodable entry in
// a far-future term through a raft transport over stream.
func forgeAppend(t *testing.T, stream func(*testing.T, net.Listener) raft.StreamLayer, target *Server) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(stream(t, ln), 1, 2*time.Second, io.Discard)
	defer trans.Close()
	r := target.getRaft()
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("intruder"),
		Addr: []byte(ln.Addr().String())}, Term: 1 << 40, PrevLogEntry: r.LastIndex(), PrevLogTerm: 0,
		Entries:           []*raft.Log{{Index: r.LastIndex() + 1, Term: 1 << 40, Type: raft.LogCommand, Data: []byte{0xff, 0xfe, 'x'}}},
		LeaderCommitIndex: r.LastIndex() + 1}
	var resp raft.AppendEntriesResponse
	err = trans.AppendEntries(raft.ServerID(target.ID()), raft.ServerAddress(target.RaftAddr()), req, &resp)
	if err == nil && !resp.Success {
		return nil // reached raft, which refused it: still a hole in the transport
	}
	return err
}

// TestForwardedWriteNeedsClusterCert: with cluster TLS, a request that
// claims to be forwarded by a coordinator but comes without a cluster
// certificate is refused, and a follower never forwards over plain http.
func TestForwardedWriteNeedsClusterCert(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	c := startTLSCluster(t, ca)
	lead := c.members[c.leader(10*time.Second)].srv
	req, _ := http.NewRequest(http.MethodPost, lead.URL()+"/v1/jobs", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+clusterToken)
	req.Header.Set(forwardedHeader, "intruder@x")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged forward: status %d, want 401", resp.StatusCode)
	}

	rt := forwardTransport(clusterTLS(t, ca.Server(t, "c9")))
	plainReq, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/v1/jobs", nil)
	if _, err := rt.RoundTrip(plainReq); err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Fatalf("forward over http with cluster TLS: err %v, want a refusal", err)
	}
}

func TestRaftTimeoutsValidate(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		in   RaftTimeouts
		want string // "" = valid
	}{
		{"defaults", RaftTimeouts{}, ""},
		{"slow WAN", RaftTimeouts{Heartbeat: 2 * time.Second, Election: 3 * time.Second, LeaderLease: time.Second}, ""},
		{"lease over heartbeat", RaftTimeouts{LeaderLease: 400 * ms}, "leader lease timeout 400ms: must not exceed the heartbeat timeout 300ms"},
		{"election under heartbeat", RaftTimeouts{Heartbeat: time.Second, Election: 500 * ms}, "election timeout 500ms: must be at least the heartbeat timeout 1s"},
		{"heartbeat too low", RaftTimeouts{Heartbeat: ms, LeaderLease: ms}, "heartbeat timeout 1ms: must be at least 5ms"},
		{"commit too low", RaftTimeouts{Commit: 100 * time.Microsecond}, "commit timeout 100µs: must be at least 1ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.withDefaults().Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate(%+v) = %v, want %q", tc.in, err, tc.want)
			}
		})
	}
	cfg := Config{ID: "c1", DataDir: t.TempDir(), RaftBind: "127.0.0.1:0", Raft: RaftTimeouts{LeaderLease: time.Second}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "leader lease") {
		t.Fatalf("New with a bad leader lease: %v", err)
	}
}
