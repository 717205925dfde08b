package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/protocol"
)

// devNATS is sanafarm dev's embedded NATS server with the farm's users
// and permissions (embedded.RoleUsers, as in the deploy's nats.conf):
// fresh passwords every start; the node user's URL is written to
// nodeURLFile (0600) for nodes that join from outside.
type devNATS struct {
	*embedded.NATS
	coordURL, nodeURL string // with credentials: never logged
	nodeURLFile       string
}

func startDevNATS(port int, dataDir string) (*devNATS, error) {
	coordPW, err := randomPassword()
	if err != nil {
		return nil, err
	}
	nodePW, err := randomPassword()
	if err != nil {
		return nil, err
	}
	n, err := embedded.StartNATS(embedded.NATSConfig{Port: port, Users: embedded.RoleUsers(coordPW, nodePW, nil)})
	if err != nil {
		return nil, err
	}
	d := &devNATS{NATS: n, coordURL: n.UserURL(embedded.CoordinatorUser, coordPW), nodeURL: n.UserURL(embedded.NodeUser, nodePW),
		nodeURLFile: filepath.Join(dataDir, "nats-node.url")}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		n.Close()
		return nil, fmt.Errorf("writing the node NATS URL: %w", err)
	}
	if err := os.WriteFile(d.nodeURLFile, []byte(d.nodeURL+"\n"), 0o600); err != nil {
		n.Close()
		return nil, fmt.Errorf("writing the node NATS URL: %w", err)
	}
	return d, nil
}

func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a NATS password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// connectNodeNATS connects a node: its replies come to its own inbox
// (protocol.NodeInbox), the only one a per-node NATS user may read.
func connectNodeNATS(url, id string, log *slog.Logger) (*nats.Conn, error) {
	return connectNATS(url, "sanafarm-node-"+id, log, nats.CustomInboxPrefix(protocol.NodeInbox(id)))
}
