package nvlabs

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// BuiltinPrefix marks a config reference to a YAML embedded in sanafarm
// (docs/nvlabs.md, "Presets"): "builtin:" + the config's path in the
// NVlabs/Sana repository, e.g.
// builtin:configs/sana_config/1024ms/Sana_1600M_img1024.yaml. NVlabs
// keeps its configs in its GitHub repository, not on the Hub, so the
// presets' configs are written by us in that format and shipped with the
// binary.
const BuiltinPrefix = "builtin:"

//go:embed configs
var builtinFS embed.FS

// IsBuiltin reports whether ref names an embedded config.
func IsBuiltin(ref string) bool { return strings.HasPrefix(ref, BuiltinPrefix) }

// BuiltinConfigs lists the embedded configs as references, sorted.
func BuiltinConfigs() []string {
	var out []string
	_ = fs.WalkDir(builtinFS, "configs", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Ext(p) == ".yaml" {
			out = append(out, BuiltinPrefix+p)
		}
		return err
	})
	slices.Sort(out)
	return out
}

// Builtin returns the bytes of an embedded config.
func Builtin(ref string) ([]byte, error) {
	name, ok := strings.CutPrefix(ref, BuiltinPrefix)
	if !ok || !slices.Contains(BuiltinConfigs(), ref) {
		return nil, fmt.Errorf("config %q: not a built-in NVlabs config (built in: %s)", ref, strings.Join(BuiltinConfigs(), ", "))
	}
	return builtinFS.ReadFile(name)
}

// BuiltinFile writes an embedded config to the sanafarm cache
// ($SANAFARM_CACHE, else the user cache directory + /sanafarm) under a
// folder named by its sha256, once, and returns the file's path: the
// loaders read configs from files, and the path keeps NVlabs' file name.
func BuiltinFile(ref string) (string, error) {
	b, err := Builtin(ref)
	if err != nil {
		return "", err
	}
	root := os.Getenv("SANAFARM_CACHE")
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("config %s: finding a cache directory (set SANAFARM_CACHE): %w", ref, err)
		}
		root = filepath.Join(c, "sanafarm")
	}
	sum := sha256.Sum256(b)
	dir := filepath.Join(root, "nvlabs-configs", hex.EncodeToString(sum[:8]))
	dst := filepath.Join(dir, path.Base(ref))
	if have, err := os.ReadFile(dst); err == nil && string(have) == string(b) {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("config %s: %w", ref, err)
	}
	// Write then rename: a concurrent reader never sees half a file.
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("config %s: %w", ref, err)
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), dst)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("config %s: writing %s: %w", ref, dst, werr)
	}
	return dst, nil
}
