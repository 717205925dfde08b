package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// fakeNodeCoordinator answers node actions as the coordinator does (200
// with the node's status; for a node it does not know, its id alone, not
// live) and GET /v1/nodes with nodes.
func fakeNodeCoordinator(t *testing.T, nodes []api.NodeStatus) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet && r.URL.Path == api.PathNodes {
			_ = json.NewEncoder(w).Encode(api.NodeList{Nodes: nodes})
			return
		}
		id, action, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, api.PathNodes+"/"), "/")
		if r.Method != http.MethodPost || !ok {
			http.NotFound(w, r)
			return
		}
		ns := api.NodeStatus{Info: protocol.NodeInfo{ID: id}}
		for _, n := range nodes {
			if n.Info.ID == id {
				ns = n
			}
		}
		if action != "undrain" {
			ns.Control = &protocol.NodeControl{Drain: true, Disable: action == "disable"}
		}
		_ = json.NewEncoder(w).Encode(ns)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestDrainUnknownNode: drain and undrain of a node the coordinator does
// not know still apply (exit 0: a drain holds for a node that joins
// later) but say so on stderr, listing the known node ids (at most
// maxKnownNodes); a known node gets no note.
func TestDrainUnknownNode(t *testing.T) {
	var many []api.NodeStatus
	for i := range 12 {
		many = append(many, api.NodeStatus{Info: protocol.NodeInfo{ID: fmt.Sprintf("w%02d", i)}, Live: true})
	}
	gone := api.NodeStatus{Info: protocol.NodeInfo{ID: "old"}, Leases: []protocol.Task{{TaskKey: protocol.TaskKey{Job: "j-a"}}}}
	ghost := api.NodeStatus{Info: protocol.NodeInfo{ID: "ghost"}, Control: &protocol.NodeControl{Drain: true}} // drained, never seen
	for _, c := range []struct {
		name  string
		nodes []api.NodeStatus
		args  []string
		note  string // "" = no note
	}{
		{"typo", append([]api.NodeStatus{ghost}, many[:2]...), []string{"drain", "w2"}, `knows no node "w2" at present (none announced, none holding shards); the drain is recorded and applies if a node of that id joins. Known nodes: w00, w01 (sanafarm nodes).`},
		{"bounded", many, []string{"drain", "--disable", "x"}, "Known nodes: w00, w01, w02, w03, w04, w05, w06, w07, w08, w09 and 2 more (sanafarm nodes)."},
		{"none known", nil, []string{"undrain", "w1"}, "the undrain is recorded and applies if a node of that id joins. No node is known yet (sanafarm nodes)."},
		{"json", many[:1], []string{"drain", "-o", "json", "w9"}, "Known nodes: w00 (sanafarm nodes)."},
		{"live", many[:2], []string{"drain", "w01"}, ""},
		{"drained again", []api.NodeStatus{ghost, gone}, []string{"drain", "ghost"}, "Known nodes: old (sanafarm nodes)."},
		{"gone with leases", []api.NodeStatus{gone}, []string{"drain", "old"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := fakeNodeCoordinator(t, c.nodes)
			code, stdout, stderr := sanafarm(append([]string{c.args[0], "--addr", srv.URL}, c.args[1:]...)...)
			if code != 0 || stdout == "" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if c.note == "" && stderr != "" || c.note != "" && !strings.Contains(stderr, c.note) {
				t.Errorf("stderr %q, want note %q", stderr, c.note)
			}
		})
	}
}
