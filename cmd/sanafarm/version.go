package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
)

// versionText is what `sanafarm version` and `sanafarm --version` print:
// the version nodes announce (NodeInfo.Version, buildVersion), the Go
// toolchain and platform, and the backends compiled in (cuda only in a
// -tags cuda build, make build-cuda).
func versionText() string {
	return fmt.Sprintf("version: %s\ngo: %s %s/%s\nbackends: %s\n", buildVersion(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, strings.Join(backendNames(), ", "))
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the Go version and the compiled-in backends",
		Long: `version prints the version this binary announces as a node (the module
version, else the first 12 digits of the VCS revision it was built from, else
"dev"), the Go version and platform it was built with, and its backends (cpu;
cuda in a build with -tags cuda). sanafarm --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}
