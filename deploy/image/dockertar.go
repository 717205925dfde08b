package main

import (
	"archive/tar"
	"encoding/json"
	"os"
	"sort"
	"strings"
)

// WriteDockerTar writes the OCI layout as one tar with a docker
// manifest.json, which both `docker load` (any version) and OCI tools read.
func (img *Image) WriteDockerTar(path string) error {
	files, err := img.layoutFiles()
	if err != nil {
		return err
	}
	blob := func(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
	files["manifest.json"], err = json.Marshal([]map[string]any{{
		"Config": blob(img.ConfigDigest), "RepoTags": []string{img.Tag}, "Layers": []string{blob(img.LayerDigest)},
	}})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, n := range names {
		h := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: epoch, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return err
		}
		if _, err := tw.Write(files[n]); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
