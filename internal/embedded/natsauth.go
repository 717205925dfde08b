package embedded

import (
	"fmt"
	"net/url"
	"sort"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sanafarm/sanafarm/protocol"
)

// NATSUser is one client identity of the embedded NATS server.
type NATSUser struct {
	Name, Password string
	Permissions    protocol.NATSPermissions
}

// Role user names: the deploy's nats-server users (internal/natsusers)
// are the same.
const (
	CoordinatorUser = "coordinator"
	NodeUser        = "node" // shared by the nodes without a user of their own
)

// RoleUsers are the users of a farm: the coordinator, the shared node
// user (when nodePassword is set) and one user per node id in perNode
// (id → password), named after the node and limited to its own gang
// subjects and reply inbox (protocol.NodePermissions).
func RoleUsers(coordinatorPassword, nodePassword string, perNode map[string]string) []NATSUser {
	users := []NATSUser{{Name: CoordinatorUser, Password: coordinatorPassword, Permissions: protocol.CoordinatorPermissions()}}
	if nodePassword != "" {
		users = append(users, NATSUser{Name: NodeUser, Password: nodePassword, Permissions: protocol.NodePermissions("")})
	}
	ids := make([]string, 0, len(perNode))
	for id := range perNode {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		users = append(users, NATSUser{Name: id, Password: perNode[id], Permissions: protocol.NodePermissions(id)})
	}
	return users
}

func serverUsers(us []NATSUser) []*server.User {
	var out []*server.User
	for _, u := range us {
		out = append(out, &server.User{Username: u.Name, Password: u.Password, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: u.Permissions.Publish},
			Subscribe: &server.SubjectPermission{Allow: u.Permissions.Subscribe},
		}})
	}
	return out
}

// UserURL is the client URL with user's credentials (for a client's
// configuration only: never log it).
func (n *NATS) UserURL(user, password string) string {
	u, err := url.Parse(n.URL())
	if err != nil {
		return n.URL()
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// String describes the server without credentials.
func (u NATSUser) String() string { return fmt.Sprintf("nats user %s", u.Name) }
