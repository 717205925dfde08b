package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/internal/natsusers"
	"github.com/sanafarm/sanafarm/internal/workercred"
)

// NATS secrets come from the environment (an EnvironmentFile), never the
// command line, which every local user can read.
const (
	envNATSCoordinatorPassword = "SANAFARM_NATS_COORDINATOR_PASSWORD"
	envNATSNodePassword        = "SANAFARM_NATS_NODE_PASSWORD"
	envWorkerSecret            = "SANAFARM_WORKER_SECRET"
)

func newNATSAuthCmd() *cobra.Command {
	var (
		prefix, nodeUsers, dest string
		count                   int
	)
	cmd := &cobra.Command{
		Use:   "nats-auth --workers PREFIX --count N [--node-users FILE] [--dest FILE]",
		Short: "Write the authorization block of the farm's nats-server: the roles and a user of its own for every worker",
		Long: `nats-auth writes the authorization block of the coordinators' nats-server
configuration (docs/deploy.md §3.8): the user coordinator
($` + envNATSCoordinatorPassword + `), the shared user node ($` + envNATSNodePassword + `;
unset: none), and one user per worker named PREFIX0 … PREFIX<N-1>, whose
password is derived from the cluster's worker secret ($` + envWorkerSecret + `,
at least 32 letters or digits) as the Terraform module derives it for each
worker's own droplet. Each user may use only its own subjects. --node-users
FILE adds or overrides workers, one "id password" per line. The block goes to
--dest (written whole, mode 0640) or stdout; include it from nats.conf and
reload nats-server. Run it again with a larger --count to add workers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := natsAuthConfig(prefix, count, nodeUsers)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := natsusers.Render(&buf, cfg); err != nil {
				return usage(err)
			}
			if dest == "" {
				_, err := cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := writeWhole(dest, buf.Bytes(), 0o640); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: users coordinator, %d workers\n", dest, len(cfg.Workers))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&prefix, "workers", "", "the workers' names before their number (<cluster_name>-w)")
	f.IntVar(&count, "count", 0, fmt.Sprintf("how many workers get a derived user (at most %d)", workercred.MaxWorkers))
	f.StringVar(&nodeUsers, "node-users", "", `file of "id password" lines: workers with a password of their own`)
	f.StringVar(&dest, "dest", "", "file to write (default: stdout)")
	return cmd
}

// natsAuthConfig gathers the users from the environment and the flags.
func natsAuthConfig(prefix string, count int, nodeUsers string) (natsusers.Config, error) {
	cfg := natsusers.Config{CoordinatorPassword: os.Getenv(envNATSCoordinatorPassword), NodePassword: os.Getenv(envNATSNodePassword)}
	if cfg.CoordinatorPassword == "" {
		return cfg, usagef("$%s must be set", envNATSCoordinatorPassword)
	}
	var err error
	cfg.Workers, err = workerUsers(workercred.NATS, prefix, count, nodeUsers)
	return cfg, err
}

// workerUsers are the --count workers' passwords for service, derived from
// $SANAFARM_WORKER_SECRET, and those of the --node-users file, which take
// precedence.
func workerUsers(service, prefix string, count int, nodeUsers string) (map[string]string, error) {
	users := map[string]string{}
	if count > 0 {
		if prefix == "" {
			return nil, usagef("--count needs --workers PREFIX")
		}
		secret := os.Getenv(envWorkerSecret)
		if secret == "" {
			return nil, usagef("--count needs $%s", envWorkerSecret)
		}
		derived, err := workercred.Derive(secret, service, prefix, count)
		if err != nil {
			return nil, usage(err)
		}
		users = derived
	}
	if nodeUsers == "" {
		return users, nil
	}
	f, err := os.Open(nodeUsers)
	if err != nil {
		return nil, fmt.Errorf("--node-users: %w", err)
	}
	defer f.Close()
	own, err := parseNodeUsers(io.LimitReader(f, maxNodeUsersFile+1), nodeUsers)
	if err != nil {
		return nil, err
	}
	maps.Copy(users, own)
	return users, nil
}

// writeWhole writes b to path through a temporary file in its folder, so
// a reader never sees half of it.
func writeWhole(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := keepOwner(tmp, path); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// keepOwner gives tmp the owner and group of the file it replaces, so a
// rewritten /etc/nats/auth.conf (root:nats) stays readable by nats-server.
func keepOwner(tmp *os.File, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return nil // a new file: ours
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return tmp.Chown(int(sys.Uid), int(sys.Gid))
	}
	return nil
}
