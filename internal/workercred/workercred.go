// Package workercred derives each worker's passwords from one cluster
// secret (docs/deploy.md §3.8), as the Terraform module derives them for
// the worker's own droplet: sha256("<secret>:<service>:<worker id>") in
// hex. The coordinators, which hold the secret, create the users of every
// worker name up to a limit (sanafarm nats-auth, sanafarm etcd-auth), so
// no droplet's user data grows with the farm, and a worker holds only its
// own passwords. The secret comes first and ids never hold the bytes a
// length extension would append, so one worker's password tells nothing
// of another's, nor of the same worker's for another service.
package workercred

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
)

// Bounds.
const (
	MinSecret  = 32
	MaxWorkers = 10000
)

// Services a password is derived for.
const (
	NATS = "nats"
	Etcd = "etcd"
)

var (
	secretPattern = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
)

// ValidID reports whether id can name a worker's user in NATS and etcd:
// 1 to 128 letters, digits, '_' or '-' (a NATS subject token as it is,
// protocol.SubjectToken).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Alphanumeric reports whether s is letters and digits only, as secrets
// and passwords are (no quoting in configuration files or URLs).
func Alphanumeric(s string) bool { return secretPattern.MatchString(s) }

// Password is worker id's password for service under secret.
func Password(secret, service, id string) string {
	sum := sha256.Sum256([]byte(secret + ":" + service + ":" + id))
	return hex.EncodeToString(sum[:])
}

// Derive returns the passwords for service of workers prefix0 …
// prefix(count-1). Errors never quote the secret.
func Derive(secret, service, prefix string, count int) (map[string]string, error) {
	if len(secret) < MinSecret || !Alphanumeric(secret) {
		return nil, fmt.Errorf("worker secret: want at least %d letters or digits", MinSecret)
	}
	if count < 0 || count > MaxWorkers {
		return nil, fmt.Errorf("worker count %d: want 0 to %d", count, MaxWorkers)
	}
	out := make(map[string]string, count)
	for i := range count {
		id := prefix + strconv.Itoa(i)
		if !ValidID(id) {
			return nil, fmt.Errorf("worker name %q: want 1 to 128 letters, digits, '_' or '-'", id)
		}
		out[id] = Password(secret, service, id)
	}
	return out, nil
}
