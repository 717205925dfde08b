package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/internal/bearer"
	"github.com/sanafarm/sanafarm/protocol"
)

// DefaultAddr is the API address the client commands call without --addr
// or $SANAFARM_ADDR (the address `sanafarm dev` serves by default).
const DefaultAddr = "http://127.0.0.1:7700"

// apiFlags are the flags of the commands that call a coordinator's API.
type apiFlags struct {
	addr, token, caCert string
	output              outputFormat // -o/--output (output.go)
}

func (f *apiFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.addr, "addr", "", "coordinator API URL (default $SANAFARM_ADDR, else "+DefaultAddr+")")
	fl.StringVar(&f.token, "token", "", "API bearer token (default $SANAFARM_TOKEN)")
	fl.StringVar(&f.caCert, "ca-cert", "", "CA certificate (PEM) to trust for an https --addr, e.g. the cluster CA (default $SANAFARM_CA_CERT, else the system roots)")
	registerOutput(fl, &f.output)
}

// check loads --ca-cert: a file that cannot be read or holds no
// certificate is a failed operation (exit status 1), like any file a
// command cannot read.
func (f *apiFlags) check() error {
	if err := bearer.Check("--token ($SANAFARM_TOKEN)", firstOf(f.token, os.Getenv("SANAFARM_TOKEN"))); err != nil {
		return usage(err)
	}
	if ca := firstOf(f.caCert, os.Getenv("SANAFARM_CA_CERT")); ca != "" {
		if _, err := loadPool(ca); err != nil {
			return fmt.Errorf("--ca-cert %s: %w", ca, err)
		}
	}
	return nil
}

func (f *apiFlags) json() bool { return f.output.json() }

// client returns an API client from the flags and the environment.
func (f *apiFlags) client() *client.Client {
	addr := firstOf(f.addr, os.Getenv("SANAFARM_ADDR"), DefaultAddr)
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return client.New(addr, firstOf(f.token, os.Getenv("SANAFARM_TOKEN")), caCertOption(firstOf(f.caCert, os.Getenv("SANAFARM_CA_CERT"))))
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// failed reports an operation that failed (exit status 1, as opposed to
// 2 for usage errors).
func failed(stderr io.Writer, err error) error {
	fmt.Fprintln(stderr, "sanafarm:", err)
	if noCoordinator(err) {
		fmt.Fprintln(stderr, "No coordinator listens there: start one with 'sanafarm dev', or name yours with --addr or $SANAFARM_ADDR.")
	}
	return exitError{code: 1}
}

// noCoordinator reports whether err is an API call whose connection was
// refused (the first thing a new user meets without a farm running).
func noCoordinator(err error) bool {
	return protocol.CodeOf(err) == protocol.CodeUnavailable && errors.Is(err, syscall.ECONNREFUSED)
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
