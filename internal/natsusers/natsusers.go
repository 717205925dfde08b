// Package natsusers renders the authorization block of the farm's
// nats-server configuration (docs/deploy.md §3.8): the
// coordinator role, the shared node role, and a user of its own for every
// worker, each limited to the subjects protocol gives it
// (embedded.RoleUsers, the users `sanafarm dev` gives its own server).
//
// A worker's password may be derived from one cluster secret
// (internal/workercred), as the Terraform module derives it for the
// worker's own droplet.
package natsusers

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/internal/workercred"
	"github.com/sanafarm/sanafarm/protocol"
)

// Bounds on what a configuration may hold.
const (
	MaxWorkers     = workercred.MaxWorkers
	MinPassword    = 24
	maxPasswordLen = 256
)

// Config is what Render writes.
type Config struct {
	CoordinatorPassword string
	// NodePassword is the shared user node's ("": no shared user).
	NodePassword string
	// Workers maps a worker's node id to its password.
	Workers map[string]string
}

// Check reports the first unusable name or password, never the password.
func (c Config) Check() error {
	if err := checkPassword(embedded.CoordinatorUser, c.CoordinatorPassword); err != nil {
		return err
	}
	if c.NodePassword != "" {
		if err := checkPassword(embedded.NodeUser, c.NodePassword); err != nil {
			return err
		}
	}
	if len(c.Workers) > MaxWorkers {
		return fmt.Errorf("%d workers, at most %d", len(c.Workers), MaxWorkers)
	}
	for _, id := range slices.Sorted(maps.Keys(c.Workers)) {
		if !workercred.ValidID(id) || id == embedded.CoordinatorUser || id == embedded.NodeUser {
			return fmt.Errorf("worker name %q: want 1 to 128 letters, digits, '_' or '-', not a role's name", protocol.Clip(id, 64))
		}
		if err := checkPassword("worker "+id, c.Workers[id]); err != nil {
			return err
		}
	}
	return nil
}

func checkPassword(who, pw string) error {
	if len(pw) < MinPassword || len(pw) > maxPasswordLen || !workercred.Alphanumeric(pw) {
		return fmt.Errorf("password of %s: want %d to %d letters or digits", who, MinPassword, maxPasswordLen)
	}
	return nil
}

// Render writes c's authorization block, users in a stable order.
func Render(w io.Writer, c Config) error {
	if err := c.Check(); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# Written by sanafarm nats-auth (docs/deploy.md §3.8); do not edit.\nauthorization {\n  users = [\n")
	// the users sanafarm dev's embedded server gets too
	for _, u := range embedded.RoleUsers(c.CoordinatorPassword, c.NodePassword, c.Workers) {
		user(&b, u)
	}
	b.WriteString("  ]\n}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// user writes one entry; names and passwords were checked, subjects come
// from protocol (SubjectToken keeps them to safe characters).
func user(b *strings.Builder, u embedded.NATSUser) {
	fmt.Fprintf(b, "    {\n      user: %q\n      password: %q\n      permissions: {\n", u.Name, u.Password)
	fmt.Fprintf(b, "        publish: { allow: %s }\n        subscribe: { allow: %s }\n      }\n    }\n",
		list(u.Permissions.Publish), list(u.Permissions.Subscribe))
}

func list(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
