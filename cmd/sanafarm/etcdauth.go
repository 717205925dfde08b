package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/internal/etcdauth"
	"github.com/sanafarm/sanafarm/internal/workercred"
)

// etcd credentials come from the environment (a systemd EnvironmentFile),
// never the command line, which every local user can read.
const (
	envEtcdUser            = "SANAFARM_ETCD_USER"
	envEtcdPassword        = "SANAFARM_ETCD_PASSWORD"
	envEtcdRootPassword    = "SANAFARM_ETCD_ROOT_PASSWORD"
	envEtcdCoordinatorPass = "SANAFARM_ETCD_COORDINATOR_PASSWORD"
	maxNodeUsersFile       = 1 << 20 // bytes
)

// etcdCreds are $SANAFARM_ETCD_USER and $SANAFARM_ETCD_PASSWORD: both or
// neither (no user: the client certificate, if any, names it).
func etcdCreds() (user, password string, err error) {
	user, password = os.Getenv(envEtcdUser), os.Getenv(envEtcdPassword)
	if (user == "") != (password == "") {
		return "", "", usagef("$%s and $%s: set both or neither", envEtcdUser, envEtcdPassword)
	}
	return user, password, nil
}

func newEtcdAuthCmd() *cobra.Command {
	var (
		endpoints, nodeUsers, prefix string
		count                        int
		tlsFlags                     etcdTLSFlags
	)
	cmd := &cobra.Command{
		Use:   "etcd-auth --etcd ENDPOINTS (--workers PREFIX --count N | --node-users FILE)",
		Short: "Give each worker an etcd user that may write only its own announcement, and turn etcd authentication on",
		Long: `etcd-auth sets up etcd's role-based access for a farm (docs/deploy.md,
"Per-node etcd users"): the root user ($` + envEtcdRootPassword + `), the
coordinators' user ` + etcdauth.CoordinatorUser + ` ($` + envEtcdCoordinatorPass + `),
which reads and writes /sanafarm/, and one user per worker, named by its node id,
which may write /sanafarm/nodes/<id> only: the workers PREFIX0 … PREFIX<N-1>,
each password derived from the cluster's worker secret ($` + envWorkerSecret + `) as
the Terraform module derives it for the worker's droplet (docs/deploy.md §3.8),
and those FILE lists, one "id password" per line ('#' starts a comment), whose
passwords take precedence. Then it turns authentication on.
Run it again to add workers or change passwords (it connects as root); it
removes nobody. Coordinators and workers then connect with $` + envEtcdUser + `
and $` + envEtcdPassword + `. Passwords: at least 16 bytes (openssl rand -hex 16).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := etcdAuthPlan(nodeUsers, prefix, count)
			if err != nil {
				return err
			}
			tc, err := tlsFlags.config()
			if err != nil {
				return err
			}
			// etcd hashes each password with bcrypt: allow for it per user.
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute+time.Duration(len(plan.Nodes))*time.Second/2)
			defer cancel()
			cli, err := connectEtcdAs(ctx, endpoints, tc, etcdauth.RootUser, plan.RootPassword)
			if err != nil {
				return err
			}
			defer cli.Close()
			if err := etcdauth.Setup(ctx, cli, plan); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "etcd authentication on: users %s, %s and %d workers\n", etcdauth.RootUser, etcdauth.CoordinatorUser, len(plan.Nodes))
			return nil
		},
	}
	cmd.Flags().StringVar(&endpoints, "etcd", "127.0.0.1:2379", "etcd endpoints (comma-separated)")
	cmd.Flags().StringVar(&nodeUsers, "node-users", "", `file of workers' users: "id password" per line`)
	cmd.Flags().StringVar(&prefix, "workers", "", "the workers' names before their number (<cluster_name>-w), for --count")
	cmd.Flags().IntVar(&count, "count", 0, fmt.Sprintf("how many workers get a derived user (at most %d)", workercred.MaxWorkers))
	tlsFlags.register(cmd.Flags())
	return cmd
}

// etcdAuthPlan reads the passwords from the environment and FILE, and
// derives those of the --count workers.
func etcdAuthPlan(nodeUsers, prefix string, count int) (etcdauth.Plan, error) {
	p := etcdauth.Plan{RootPassword: os.Getenv(envEtcdRootPassword), CoordinatorPassword: os.Getenv(envEtcdCoordinatorPass)}
	if p.RootPassword == "" || p.CoordinatorPassword == "" {
		return p, usagef("$%s and $%s must be set", envEtcdRootPassword, envEtcdCoordinatorPass)
	}
	if nodeUsers == "" && count <= 0 {
		return p, usagef("--node-users FILE or --workers PREFIX --count N is required (an empty file: no workers yet)")
	}
	var err error
	if p.Nodes, err = workerUsers(workercred.Etcd, prefix, count, nodeUsers); err != nil {
		return p, err
	}
	if err := p.Check(); err != nil {
		return p, usage(fmt.Errorf("%s: %w", nodeUsers, err))
	}
	return p, nil
}

// parseNodeUsers reads "id password" lines; errors name the file and line,
// never the password.
func parseNodeUsers(r io.Reader, name string) (map[string]string, error) {
	users := map[string]string{}
	sc := bufio.NewScanner(r)
	n, size := 0, 0
	for sc.Scan() {
		n++
		size += len(sc.Bytes()) + 1
		if size > maxNodeUsersFile {
			return nil, usagef("%s: larger than %d bytes", name, maxNodeUsersFile)
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, usagef("%s:%d: want \"id password\" (%d fields)", name, n, len(fields))
		}
		if _, dup := users[fields[0]]; dup {
			return nil, usagef("%s:%d: worker %q listed twice", name, n, fields[0])
		}
		users[fields[0]] = fields[1]
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("%s: %v", name, err)
	}
	return users, nil
}
