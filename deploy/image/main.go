// Command image assembles a container image from a static binary without
// pulling any base image: one layer holding the binary, the build host's
// CA bundle, /etc/passwd and /etc/group with a nonroot user (65532), and
// empty /tmp and /data directories. It writes an OCI image layout
// directory and, optionally, a tar that `docker load` reads (the same
// layout plus a manifest.json).
//
//	go run ./deploy/image -binary bin/image-root/sanafarm -tag sanafarm:local \
//	    -o bin/image -tar bin/image.tar
//
// The build is reproducible: file times are fixed and the layer is
// written in a fixed order.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

func main() {
	var c Config
	flag.StringVar(&c.Binary, "binary", "", "static binary to put in the image (required)")
	flag.StringVar(&c.Name, "name", "", "its name in /usr/local/bin and the entrypoint (default: the file's base name)")
	flag.StringVar(&c.Tag, "tag", "", "image reference, e.g. sanafarm:local (required)")
	flag.StringVar(&c.CABundle, "ca", "/etc/ssl/certs/ca-certificates.crt", "CA certificate bundle copied to /etc/ssl/certs/ca-certificates.crt (empty: none)")
	flag.StringVar(&c.Arch, "arch", runtime.GOARCH, "image architecture (the binary's GOARCH)")
	flag.Func("extra", "another binary for /usr/local/bin (repeatable)", func(p string) error {
		c.Extras = append(c.Extras, p)
		return nil
	})
	out := flag.String("o", "", "OCI image layout directory to write (required; replaced)")
	tarPath := flag.String("tar", "", "also write a docker-loadable tar here")
	flag.Parse()
	if c.Binary == "" || c.Tag == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "image: -binary, -tag and -o are required")
		flag.Usage()
		os.Exit(2)
	}
	if c.Name == "" {
		c.Name = filepath.Base(c.Binary)
	}
	img, err := Build(c)
	if err == nil {
		err = img.WriteLayout(*out)
	}
	if err == nil && *tarPath != "" {
		err = img.WriteDockerTar(*tarPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s (%d bytes compressed), layout %s\n", c.Tag, img.ManifestDigest, img.LayerSize(), *out)
}
