// Package natsusers renders the authorization block of the farm's
// nats-server configuration (docs/deploy.md §3.8): the
// coordinator role, the shared node role, and a user of its own for every
// worker, each limited to the subjects protocol gives it
// (protocol.CoordinatorPermissions, protocol.NodePermissions).
//
// A worker's password may be derived from one cluster secret
// (internal/workercred), as the Terraform module derives it for the
// worker's own droplet.
package natsusers

import (
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/internal/workercred"
	"github.com/sanafarm/sanafarm/protocol"
)

// Bounds on what a configuration may hold.
const (
	MaxWorkers     = workercred.MaxWorkers
	MinPassword    = 24
	maxPasswordLen = 256
)

var (
	idPattern       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	passwordPattern = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// DerivePassword is worker id's NATS password under the cluster's worker
// secret (workercred.Password).
func DerivePassword(secret, id string) string {
	return workercred.Password(secret, workercred.NATS, id)
}

// Config is what Render writes.
type Config struct {
	CoordinatorPassword string
	// NodePassword is the shared user node's ("": no shared user).
	NodePassword string
	// Workers maps a worker's node id to its password.
	Workers map[string]string
}

// Derived returns the NATS passwords of workers prefix0 …
// prefix(count-1) under secret.
func Derived(secret, prefix string, count int) (map[string]string, error) {
	return workercred.Derive(secret, workercred.NATS, prefix, count)
}

// Check reports the first unusable name or password, never the password.
func (c Config) Check() error {
	if err := checkPassword("coordinator", c.CoordinatorPassword); err != nil {
		return err
	}
	if c.NodePassword != "" {
		if err := checkPassword("node", c.NodePassword); err != nil {
			return err
		}
	}
	if len(c.Workers) > MaxWorkers {
		return fmt.Errorf("%d workers, at most %d", len(c.Workers), MaxWorkers)
	}
	for _, id := range slices.Sorted(maps.Keys(c.Workers)) {
		if !idPattern.MatchString(id) || id == "coordinator" || id == "node" {
			return fmt.Errorf("worker name %q: want 1 to 128 letters, digits, '_' or '-', not a role's name", protocol.Clip(id, 64))
		}
		if err := checkPassword("worker "+id, c.Workers[id]); err != nil {
			return err
		}
	}
	return nil
}

func checkPassword(who, pw string) error {
	if len(pw) < MinPassword || len(pw) > maxPasswordLen || !passwordPattern.MatchString(pw) {
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
	user(&b, "coordinator", c.CoordinatorPassword, protocol.CoordinatorPermissions())
	if c.NodePassword != "" {
		user(&b, "node", c.NodePassword, protocol.NodePermissions(""))
	}
	for _, id := range slices.Sorted(maps.Keys(c.Workers)) {
		user(&b, id, c.Workers[id], protocol.NodePermissions(id))
	}
	b.WriteString("  ]\n}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// user writes one entry; names and passwords were checked, subjects come
// from protocol (SubjectToken keeps them to safe characters).
func user(b *strings.Builder, name, password string, p protocol.NATSPermissions) {
	fmt.Fprintf(b, "    {\n      user: %q\n      password: %q\n      permissions: {\n", name, password)
	fmt.Fprintf(b, "        publish: { allow: %s }\n        subscribe: { allow: %s }\n      }\n    }\n", list(p.Publish), list(p.Subscribe))
}

func list(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
