package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sanafarm/sanafarm/protocol"
)

// allowFlags are --allow-read and --allow-write: the roots under which
// jobs may name prompt files and outputs (sanafarm node, coordinator and
// dev). A job is untrusted input: without them a prompt "file" could be
// /proc/self/environ and an output any path the daemon's user may write.
type allowFlags struct{ read, write []string }

func (a *allowFlags) register(fl *pflag.FlagSet, defaults string) {
	fl.StringArrayVar(&a.read, "allow-read", nil, "where jobs may read prompt files: a directory, file:///dir, s3://bucket or "+
		"s3://bucket/prefix (repeatable or comma-separated; "+defaults+")")
	fl.StringArrayVar(&a.write, "allow-write", nil, "where jobs may write outputs: a directory, file:///dir, s3://bucket or "+
		"s3://bucket/prefix (repeatable or comma-separated; "+defaults+")")
}

// access parses the flags; a flag that was not given gets defaults.
func (a allowFlags) access(defaults ...string) (protocol.Access, error) {
	var acc protocol.Access
	var err error
	if acc.Read, err = protocol.ParseAllowList(orDefault(a.read, defaults)...); err != nil {
		return acc, usagef("--allow-read: %w", err)
	}
	if acc.Write, err = protocol.ParseAllowList(orDefault(a.write, defaults)...); err != nil {
		return acc, usagef("--allow-write: %w", err)
	}
	return acc, nil
}

func orDefault(given, defaults []string) []string {
	if given != nil {
		return given
	}
	return defaults
}

// logAccess says at startup what jobs may touch, and warns when that is
// nothing (every job names an output, so every job would be refused).
func logAccess(log *slog.Logger, who string, a protocol.Access) {
	read, write := strings.Join(a.Read.Roots(), ","), strings.Join(a.Write.Roots(), ",")
	if a.Read.Empty() || a.Write.Empty() {
		log.Warn(who+" allows no prompt files or no outputs: jobs naming them are refused (set --allow-read and --allow-write)",
			"allow_read", read, "allow_write", write)
		return
	}
	log.Info(who+" allow-lists", "allow_read", read, "allow_write", write)
}

// devAllowDefaults are dev's roots when --allow-read/--allow-write are not
// given: its data directory and the working directory (unless that is the
// filesystem root, as in many containers, which would allow everything).
func devAllowDefaults(data string) ([]string, error) {
	abs, err := filepath.Abs(data)
	if err != nil {
		return nil, fmt.Errorf("--data %s: %w", data, err)
	}
	if strings.Contains(abs, ",") { // the lists are comma-separated
		return nil, usagef("--data %s holds a comma: name the roots with --allow-read and --allow-write", abs)
	}
	roots := []string{abs}
	if wd, err := os.Getwd(); err == nil && filepath.Dir(wd) != wd && !strings.Contains(wd, ",") {
		roots = append(roots, wd)
	}
	return roots, nil
}
