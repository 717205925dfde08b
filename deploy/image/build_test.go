package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func buildDummy(t *testing.T) (*Image, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "dummy")
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(bin, []byte("\x7fELF dummy binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(dir, "probe")
	if err := os.WriteFile(probe, []byte("\x7fELF probe"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := Build(Config{Binary: bin, Name: "sanafarm", Tag: "sanafarm:test", CABundle: ca, Arch: "amd64", Extras: []string{probe}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "layout")
	if err := img.WriteLayout(out); err != nil {
		t.Fatal(err)
	}
	return img, out
}

func readJSON(t *testing.T, path string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// blobPath checks that the blob of digest exists and hashes to it.
func blobPath(t *testing.T, layout, digest string) string {
	t.Helper()
	p := filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("blob %s: %v", digest, err)
	}
	if sum := sha256.Sum256(b); "sha256:"+hex.EncodeToString(sum[:]) != digest {
		t.Fatalf("blob %s does not hash to its name", digest)
	}
	return p
}

func TestImageLayout(t *testing.T) {
	img, layout := buildDummy(t)
	var ociLayout map[string]string
	readJSON(t, filepath.Join(layout, "oci-layout"), &ociLayout)
	if ociLayout["imageLayoutVersion"] != "1.0.0" {
		t.Errorf("oci-layout: %v", ociLayout)
	}
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	readJSON(t, filepath.Join(layout, "index.json"), &index)
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != img.ManifestDigest ||
		index.Manifests[0].Annotations[refNameKey] != "sanafarm:test" || index.Manifests[0].MediaType != mediaManifest {
		t.Fatalf("index.json: %+v", index)
	}
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	readJSON(t, blobPath(t, layout, img.ManifestDigest), &manifest)
	if manifest.Config.MediaType != mediaConfig || len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != mediaLayer {
		t.Fatalf("manifest: %+v", manifest)
	}
	var cfg struct {
		Architecture, OS string
		Config           struct {
			User       string
			Entrypoint []string
			Env        []string
		}
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	readJSON(t, blobPath(t, layout, manifest.Config.Digest), &cfg)
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || cfg.Config.User != "65532:65532" ||
		strings.Join(cfg.Config.Entrypoint, " ") != "/usr/local/bin/sanafarm" {
		t.Errorf("config: %+v", cfg)
	}
	files, diffID := readLayer(t, blobPath(t, layout, manifest.Layers[0].Digest))
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != diffID {
		t.Errorf("diff_ids %v, layer's uncompressed digest %s", cfg.RootFS.DiffIDs, diffID)
	}
	checkLayerFiles(t, files)
}

func readLayer(t *testing.T, path string) (map[string]*tar.Header, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = h
	}
	sum := sha256.Sum256(raw)
	return files, "sha256:" + hex.EncodeToString(sum[:])
}

func checkLayerFiles(t *testing.T, files map[string]*tar.Header) {
	t.Helper()
	want := map[string]int64{"usr/local/bin/sanafarm": 0o755, "usr/local/bin/probe": 0o755, "etc/passwd": 0o644, "etc/group": 0o644,
		"etc/ssl/certs/ca-certificates.crt": 0o644, "tmp": 0o1777, "data": 0o755}
	for name, mode := range want {
		h, ok := files[name]
		if !ok {
			t.Errorf("layer lacks %s", name)
			continue
		}
		if h.Mode != mode {
			t.Errorf("%s has mode %o, want %o", name, h.Mode, mode)
		}
	}
	if h := files["data"]; h != nil && h.Uid != nonroot {
		t.Errorf("/data belongs to %d, want the nonroot user", h.Uid)
	}
}

func TestImageReproducibleAndDockerTar(t *testing.T) {
	a, _ := buildDummy(t)
	b, _ := buildDummy(t)
	if a.ManifestDigest != b.ManifestDigest {
		t.Errorf("two builds differ: %s vs %s", a.ManifestDigest, b.ManifestDigest)
	}
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := a.WriteDockerTar(p); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	names := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name], _ = io.ReadAll(tr)
	}
	var m []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(names["manifest.json"], &m); err != nil || len(m) != 1 || m[0].RepoTags[0] != "sanafarm:test" {
		t.Fatalf("manifest.json: %v %s", err, names["manifest.json"])
	}
	for _, n := range append([]string{m[0].Config, "index.json", "oci-layout"}, m[0].Layers...) {
		if _, ok := names[n]; !ok {
			t.Errorf("docker tar lacks %s", n)
		}
	}
}
