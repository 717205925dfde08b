// Package etcdauth sets up etcd's role-based access for a farm: without
// it, every holder of a worker's etcd certificate may write any key — other
// nodes' announcements, the coordinators' API addresses and features
// (docs/deploy.md §9). With it, each worker is an etcd user whose role may
// write its own announcement key only, and the coordinators share a user
// whose role reads and writes the farm's prefix.
//
// Setup is idempotent: run it again with more workers, or new passwords.
// It never removes a user: revoke a retired worker with etcdctl.
package etcdauth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/internal/workercred"
	"github.com/sanafarm/sanafarm/protocol"
)

// Users and roles the farm's etcd holds.
const (
	RootUser        = "root"
	CoordinatorUser = "sanafarm-coordinator"
	coordinatorRole = "sanafarm-coordinator"
	nodeRolePrefix  = "sanafarm-node-"
	// FarmPrefix holds every key of the farm (protocol's etcd layout).
	FarmPrefix = "/sanafarm/"
	// MinPassword is the shortest password Setup accepts.
	MinPassword = 16
)

// Plan is the users to create or update.
type Plan struct {
	RootPassword        string
	CoordinatorPassword string
	// Nodes maps each worker's id (its etcd user name) to its password.
	Nodes map[string]string
}

// Check refuses a plan Setup would not complete, naming the user; it
// never quotes a password.
func (p Plan) Check() error {
	var errs []error
	short := func(user, pw string) {
		if len(pw) < MinPassword {
			errs = append(errs, fmt.Errorf("etcd user %s: password of %d bytes, want at least %d (openssl rand -hex 16)", user, len(pw), MinPassword))
		}
	}
	short(RootUser, p.RootPassword)
	short(CoordinatorUser, p.CoordinatorPassword)
	for _, id := range slices.Sorted(maps.Keys(p.Nodes)) {
		if err := checkNodeID(id); err != nil {
			errs = append(errs, err)
			continue
		}
		short(id, p.Nodes[id])
	}
	return errors.Join(errs...)
}

// checkNodeID refuses ids that would name another user or key.
func checkNodeID(id string) error {
	switch {
	case id == RootUser || id == CoordinatorUser:
		return fmt.Errorf("etcd node user %q: reserved name", id)
	case !workercred.ValidID(id):
		return fmt.Errorf("etcd node user %q: want letters, digits, '_' and '-' (at most 128)", id)
	}
	return nil
}

// Setup creates or updates the root user, the coordinators' user and one
// user per worker with their roles, then enables authentication. cli must
// be a root client once authentication is on (any client before).
func Setup(ctx context.Context, cli *clientv3.Client, p Plan) error {
	if err := p.Check(); err != nil {
		return err
	}
	if err := ensureRole(ctx, cli, RootUser, nil); err != nil {
		return err
	}
	if err := ensureUser(ctx, cli, RootUser, p.RootPassword, RootUser); err != nil {
		return err
	}
	farm := &permission{key: FarmPrefix, end: clientv3.GetPrefixRangeEnd(FarmPrefix)}
	if err := ensureRole(ctx, cli, coordinatorRole, farm); err != nil {
		return err
	}
	if err := ensureUser(ctx, cli, CoordinatorUser, p.CoordinatorPassword, coordinatorRole); err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(p.Nodes)) {
		role := nodeRolePrefix + id
		if err := ensureRole(ctx, cli, role, &permission{key: protocol.NodeKey(id)}); err != nil {
			return err
		}
		if err := ensureUser(ctx, cli, id, p.Nodes[id], role); err != nil {
			return err
		}
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		return fmt.Errorf("enabling etcd authentication: %w", err)
	}
	return nil
}

// permission is a read-write grant of one key, or of [key, end).
type permission struct{ key, end string }

// ensureRole adds role (if missing) and grants perm (if any).
func ensureRole(ctx context.Context, cli *clientv3.Client, role string, perm *permission) error {
	if _, err := cli.RoleAdd(ctx, role); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return fmt.Errorf("adding etcd role %s: %w", role, err)
	}
	if perm == nil {
		return nil
	}
	if _, err := cli.RoleGrantPermission(ctx, role, perm.key, perm.end, clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
		return fmt.Errorf("granting etcd role %s read-write on %s: %w", role, strings.TrimSuffix(perm.key, "/")+describeEnd(perm.end), err)
	}
	return nil
}

func describeEnd(end string) string {
	if end == "" {
		return ""
	}
	return "/…"
}

// ensureUser adds user with password (or sets the password of an
// existing one) and grants role.
func ensureUser(ctx context.Context, cli *clientv3.Client, user, password, role string) error {
	_, err := cli.UserAdd(ctx, user, password)
	if errors.Is(err, rpctypes.ErrUserAlreadyExist) {
		_, err = cli.UserChangePassword(ctx, user, password)
	}
	if err != nil {
		return fmt.Errorf("adding etcd user %s: %w", user, err)
	}
	if _, err := cli.UserGrantRole(ctx, user, role); err != nil {
		return fmt.Errorf("granting etcd user %s role %s: %w", user, role, err)
	}
	return nil
}
