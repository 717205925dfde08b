package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenerateNVlabsFlags: --config and --checkpoint go together, exclude
// --model, and reach the Hub for the repos the config names (offline here:
// the error names the text encoder repo and the config field).
func TestGenerateNVlabsFlags(t *testing.T) {
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	const (
		yml = "../../model/nvlabs/testdata/sana_1600m_1024.yaml"
		ckp = "../../testdata/golden/nvlabs_checkpoint/checkpoint.pth"
	)
	out := filepath.Join(t.TempDir(), "x.png")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--config", yml}, "--config and --checkpoint go together"},
		{[]string{"--config", yml, "--checkpoint", ckp, "--model", "sana-600m-512"}, "exclusive"},
		{[]string{"--config", "missing.yaml", "--checkpoint", ckp}, "missing.yaml"},
		{[]string{"--config", yml, "--checkpoint", "hf://org/repo/x.pth"}, "fetching hf://org/repo/x.pth"},
		{[]string{"--config", yml, "--checkpoint", ckp}, "text encoder google/gemma-2-2b-it (text_encoder.text_encoder_name gemma-2-2b-it)"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		args := append([]string{"generate", "-p", "a fox", "-q", "--dest", out}, c.args...)
		if code := run(context.Background(), args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr.String(), c.want)
		}
	}
}
