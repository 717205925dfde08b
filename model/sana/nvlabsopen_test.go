package sana

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/hub"
)

const (
	nvYAML = "../nvlabs/testdata/sana_1600m_1024.yaml"
	nvPTH  = "../../testdata/golden/nvlabs_checkpoint/checkpoint.pth"
)

// fakeFetcher answers hf:// URLs from a map and records repo downloads.
type fakeFetcher struct {
	urls  map[string]string // url → local path
	sums  map[string]string
	repos []string
	fail  string // repo whose download fails
}

func (f *fakeFetcher) DownloadURL(_ context.Context, url string) (string, hub.File, error) {
	p, ok := f.urls[url]
	if !ok {
		return "", hub.File{}, hub.ErrNotFound
	}
	return p, hub.File{SHA256: f.sums[url]}, nil
}

func (f *fakeFetcher) Download(_ context.Context, repo, _ string, _ hub.Options) (string, error) {
	f.repos = append(f.repos, repo)
	if repo == f.fail {
		return "", errors.New("gated repo")
	}
	return "/cache/" + repo, nil
}

func TestResolveNVlabs(t *testing.T) {
	const url = "hf://Efficient-Large-Model/Sana_1600M_1024px/checkpoints/Sana_1600M_1024px.pth"
	h := &fakeFetcher{urls: map[string]string{url: nvPTH}, sums: map[string]string{url: "lfs-digest"}}
	files, prov, err := resolveNVlabs(context.Background(), h, NVlabsRefs{Config: nvYAML, Checkpoint: url}, "")
	if err != nil {
		t.Fatal(err)
	}
	if files.checkpoint != nvPTH || files.te != "/cache/google/gemma-2-2b-it" || files.vae != "/cache/mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers" {
		t.Errorf("files %+v", files)
	}
	yml, _ := os.ReadFile(nvYAML)
	ysum := sha256.Sum256(yml)
	if prov.Checkpoint != url || prov.CheckpointSHA256 != "lfs-digest" || prov.ConfigSHA256 != hex.EncodeToString(ysum[:]) ||
		prov.TextEncoderRepo != "google/gemma-2-2b-it" || prov.VAERepo != "mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers" {
		t.Errorf("provenance %+v", prov)
	}

	// A local checkpoint is hashed.
	_, prov, err = resolveNVlabs(context.Background(), h, NVlabsRefs{Config: nvYAML, Checkpoint: nvPTH}, "")
	ck, _ := os.ReadFile(nvPTH)
	csum := sha256.Sum256(ck)
	if err != nil || prov.CheckpointSHA256 != hex.EncodeToString(csum[:]) {
		t.Errorf("local checkpoint: %+v %v", prov, err)
	}

	errs := []struct {
		refs NVlabsRefs
		fail string
		want string
	}{
		{NVlabsRefs{Config: nvYAML}, "", "needs both a config (YAML) and a checkpoint"},
		{NVlabsRefs{Config: "missing.yaml", Checkpoint: nvPTH}, "", "missing.yaml"},
		{NVlabsRefs{Config: nvYAML, Checkpoint: "hf://org/repo/none.pth"}, "", "fetching hf://org/repo/none.pth"},
		{NVlabsRefs{Config: nvYAML, Checkpoint: nvPTH}, "google/gemma-2-2b-it", "text encoder google/gemma-2-2b-it (text_encoder.text_encoder_name gemma-2-2b-it): gated repo"},
	}
	for _, c := range errs {
		h.fail = c.fail
		if _, _, err := resolveNVlabs(context.Background(), h, c.refs, ""); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.refs, err, c.want)
		}
	}
}

// TestOpenNVlabsShapeMismatch: a checkpoint that does not fit the config's
// model (the 2-block golden file under a 1.6B config) fails at binding,
// naming what is missing.
func TestOpenNVlabsShapeMismatch(t *testing.T) {
	h := &fakeFetcher{}
	_, _, err := OpenNVlabs(context.Background(), h, NVlabsRefs{Config: nvYAML, Checkpoint: nvPTH}, Options{})
	if err == nil || !strings.Contains(err.Error(), "loading NVlabs model SanaMS_1600M_P1_D20") || !strings.Contains(err.Error(), "missing tensors") {
		t.Fatalf("error %v", err)
	}
}
