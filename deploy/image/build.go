package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Media types of the OCI image spec.
const (
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	refNameKey    = "org.opencontainers.image.ref.name"
	nonroot       = 65532
)

// epoch is the modification time of every file in the layer.
var epoch = time.Unix(946684800, 0).UTC() // 2000-01-01

// Config says what goes into the image.
type Config struct {
	Binary   string   // path of the static binary
	Name     string   // name under /usr/local/bin, the entrypoint
	Tag      string   // image reference (name:tag)
	CABundle string   // CA bundle to copy, or ""
	Arch     string   // GOARCH of the binary
	Extras   []string // more binaries for /usr/local/bin (e.g. a health probe)
}

// Image is a built image: its blobs by digest and the descriptors naming them.
type Image struct {
	Tag            string
	Blobs          map[string][]byte // "sha256:<hex>" → content
	ConfigDigest   string
	LayerDigest    string
	ManifestDigest string
	manifest       []byte
}

// LayerSize is the compressed size of the image's layer.
func (img *Image) LayerSize() int { return len(img.Blobs[img.LayerDigest]) }

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Build assembles the layer, the config and the manifest.
func Build(c Config) (*Image, error) {
	bin, err := os.ReadFile(c.Binary)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	var ca []byte
	if c.CABundle != "" {
		if ca, err = os.ReadFile(c.CABundle); err != nil {
			return nil, fmt.Errorf("reading the CA bundle: %w", err)
		}
	}
	extras := map[string][]byte{}
	for _, p := range c.Extras {
		if extras[path.Base(p)], err = os.ReadFile(p); err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
	}
	layerTar, err := buildLayer(c.Name, bin, ca, extras)
	if err != nil {
		return nil, err
	}
	layer, err := gzipBytes(layerTar)
	if err != nil {
		return nil, err
	}
	img := &Image{Tag: c.Tag, Blobs: map[string][]byte{}}
	img.LayerDigest = img.add(layer)
	cfg, err := imageConfig(c, digestOf(layerTar))
	if err != nil {
		return nil, err
	}
	img.ConfigDigest = img.add(cfg)
	img.manifest, err = json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        descriptor{MediaType: mediaConfig, Digest: img.ConfigDigest, Size: len(cfg)},
		"layers":        []descriptor{{MediaType: mediaLayer, Digest: img.LayerDigest, Size: len(layer)}},
	})
	if err != nil {
		return nil, err
	}
	img.ManifestDigest = img.add(img.manifest)
	return img, nil
}

func (img *Image) add(b []byte) string {
	d := digestOf(b)
	img.Blobs[d] = b
	return d
}

// imageConfig is the OCI image config: entrypoint, user, environment and
// the layer's diff id.
func imageConfig(c Config, diffID string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": c.Arch,
		"os":           "linux",
		"config": map[string]any{
			"User":       fmt.Sprintf("%d:%d", nonroot, nonroot),
			"Entrypoint": []string{"/usr/local/bin/" + c.Name},
			"Env": []string{"PATH=/usr/local/bin:/usr/bin:/bin",
				"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/home/nonroot"},
			"WorkingDir": "/home/nonroot",
			"Labels":     map[string]string{"org.opencontainers.image.title": c.Name},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]string{{"created": epoch.Format(time.RFC3339), "created_by": "sanafarm deploy/image: " + c.Name}},
	})
}

type layerFile struct {
	name     string
	mode     int64
	uid      int
	content  []byte
	isDir    bool
	optional bool
}

// buildLayer writes the layer's files in a fixed order.
func buildLayer(name string, bin, ca []byte, extras map[string][]byte) ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, nonroot)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonroot)
	files := []layerFile{
		{name: "etc/", mode: 0o755, isDir: true},
		{name: "etc/group", mode: 0o644, content: []byte(group)},
		{name: "etc/nsswitch.conf", mode: 0o644, content: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, content: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755, isDir: true},
		{name: "etc/ssl/certs/", mode: 0o755, isDir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, content: ca, optional: ca == nil},
		{name: "data/", mode: 0o755, uid: nonroot, isDir: true},
		{name: "home/", mode: 0o755, isDir: true},
		{name: "home/nonroot/", mode: 0o700, uid: nonroot, isDir: true},
		{name: "tmp/", mode: 0o1777, isDir: true},
		{name: "usr/", mode: 0o755, isDir: true},
		{name: "usr/local/", mode: 0o755, isDir: true},
		{name: "usr/local/bin/", mode: 0o755, isDir: true},
		{name: path.Join("usr/local/bin", name), mode: 0o755, content: bin},
	}
	names := make([]string, 0, len(extras))
	for n := range extras {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, layerFile{name: path.Join("usr/local/bin", n), mode: 0o755, content: extras[n]})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if f.optional {
			continue
		}
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: epoch, Format: tar.FormatPAX,
			Typeflag: tar.TypeReg, Size: int64(len(f.content))}
		if f.isDir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.ModTime = epoch
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layoutFiles are the files of the OCI image layout, by path.
func (img *Image) layoutFiles() (map[string][]byte, error) {
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []descriptor{{MediaType: mediaManifest, Digest: img.ManifestDigest, Size: len(img.manifest),
			Annotations: map[string]string{refNameKey: img.Tag}}},
	})
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`), "index.json": index}
	for d, b := range img.Blobs {
		files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] = b
	}
	return files, nil
}

// WriteLayout writes the OCI image layout into dir (replacing it).
func (img *Image) WriteLayout(dir string) error {
	files, err := img.layoutFiles()
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for name, b := range files {
		p := path.Join(dir, name)
		if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, fs.FileMode(0o644)); err != nil {
			return err
		}
	}
	return nil
}
