package hub

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRepoInfo(t *testing.T) {
	cases := []struct {
		name, in string
		wantErr  string
		files    map[string]remoteFile
	}{
		{"hub answer", `{"id":"o/n","sha":"` + commitA + `","siblings":[
			{"rfilename":"config.json","blobId":"x","size":12},
			{"rfilename":"vae/model.safetensors","size":99,"lfs":{"sha256":"` + strings.Repeat("AB", 32) + `","size":99,"pointerSize":134}}]}`,
			"", map[string]remoteFile{"config.json": {size: 12}, "vae/model.safetensors": {size: 99, sha256: strings.Repeat("ab", 32)}}},
		{"no sizes", `{"sha":"` + commitA + `","siblings":[{"rfilename":"a.json"}]}`, "", map[string]remoteFile{"a.json": {size: -1}}},
		{"no sha", `{"siblings":[]}`, "no commit hash", nil},
		{"escaping path", `{"sha":"` + commitA + `","siblings":[{"rfilename":"../../etc/passwd"}]}`, "invalid file path", nil},
		{"absolute path", `{"sha":"` + commitA + `","siblings":[{"rfilename":"/x"}]}`, "invalid file path", nil},
		{"bad lfs", `{"sha":"` + commitA + `","siblings":[{"rfilename":"a.bin","lfs":{"sha256":"zz"}}]}`, "bad lfs sha256", nil},
		{"negative size", `{"sha":"` + commitA + `","siblings":[{"rfilename":"a.bin","size":-5}]}`, "negative size", nil},
		{"not json", `<html>`, "decoding", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := parseRepoInfo([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.commit != commitA || len(info.files) != len(tc.files) {
				t.Fatalf("got %+v", info)
			}
			for k, v := range tc.files {
				if info.files[k] != v {
					t.Errorf("%s: %+v, want %+v", k, info.files[k], v)
				}
			}
		})
	}
}

func TestParseShardIndex(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{"two shards", string(shardIndex("b-2.safetensors", "a-1.safetensors")), []string{"a-1.safetensors", "b-2.safetensors"}, false},
		{"empty map", `{"weight_map": {}}`, nil, true},
		{"subfolder shard", `{"weight_map": {"w": "../x.safetensors"}}`, nil, true},
		{"slash shard", `{"weight_map": {"w": "a/x.safetensors"}}`, nil, true},
		{"garbage", `[1,2]`, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseShardIndex([]byte(tc.in))
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v (err %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseModelIndex(t *testing.T) {
	got, err := parseModelIndex([]byte(`{"_class_name": "P", "vae": ["diffusers", "AutoencoderDC"],
		"feature_extractor": [null, null], "requires_safety_checker": true, "text_encoder": ["transformers", "Gemma2Model"]}`))
	if err != nil || !slices.Equal(got, []string{"text_encoder", "vae"}) {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := parseModelIndex([]byte(`{"../x": ["a", "b"]}`)); err == nil {
		t.Error("accepted an escaping component name")
	}
}

func TestChooseWeights(t *testing.T) {
	cases := []struct {
		name    string
		files   []string
		variant string
		want    string
		index   bool
	}{
		{"single safetensors", []string{"config.json", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"}, "", "diffusion_pytorch_model.safetensors", false},
		{"bin only", []string{"config.json", "pytorch_model.bin"}, "", "pytorch_model.bin", false},
		{"variant", []string{"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"}, "fp16", "diffusion_pytorch_model.fp16.safetensors", false},
		{"variant ignored by default", []string{"diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.safetensors"}, "", "diffusion_pytorch_model.safetensors", false},
		{"variant missing falls back", []string{"diffusion_pytorch_model.safetensors"}, "bf16", "diffusion_pytorch_model.safetensors", false},
		{"sharded default", []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"}, "", "model.safetensors.index.json", true},
		{"sharded variant", []string{"model.safetensors.index.json", "model.safetensors.index.bf16.json", "model.bf16-00001-of-00001.safetensors"}, "bf16", "model.safetensors.index.bf16.json", true},
		{"shards without index are not a checkpoint", []string{"model-00001-of-00002.safetensors"}, "", "", false},
		{"safetensors variant before bin variant", []string{"pytorch_model.fp16.bin", "model.fp16.safetensors"}, "fp16", "model.fp16.safetensors", false},
		{"default safetensors before bin variant", []string{"pytorch_model.fp16.bin", "model.safetensors"}, "fp16", "model.safetensors", false},
		{"nothing", []string{"tokenizer.json"}, "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, index := chooseWeights(tc.files, tc.variant)
			if got != tc.want || index != tc.index {
				t.Errorf("got %q index=%v, want %q index=%v", got, index, tc.want, tc.index)
			}
		})
	}
}

func TestChecks(t *testing.T) {
	for _, ok := range []string{"a.json", "vae/config.json", "a/b/c.safetensors"} {
		if err := checkRepoPath(ok); err != nil {
			t.Errorf("checkRepoPath(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../a", "a/../../b", "/a", "a//b", "a/./b", `a\b`, "a/"} {
		if checkRepoPath(bad) == nil {
			t.Errorf("checkRepoPath(%q) accepted", bad)
		}
	}
	for _, ok := range []string{"org/name", "gpt2", "Efficient-Large-Model/Sana_600M_512px_diffusers"} {
		if err := checkRepo(ok); err != nil {
			t.Errorf("checkRepo(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b/c", "../x", "a--b/c", "/x", "a/"} {
		if checkRepo(bad) == nil {
			t.Errorf("checkRepo(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "../x", "refs//pr", "/main", "a/./b"} {
		if checkRevision(bad) == nil {
			t.Errorf("checkRevision(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{`"abc"`: "abc", `W/"abc"`: "abc", "abc": "abc", ` "x" `: "x"} {
		if got := normalizeEtag(in); got != want {
			t.Errorf("normalizeEtag(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseRepoInfo(f *testing.F) {
	f.Add([]byte(`{"sha":"` + commitA + `","siblings":[{"rfilename":"a/b.safetensors","size":3,"lfs":{"sha256":"` + strings.Repeat("0", 64) + `","size":3}}]}`))
	f.Add([]byte(`{"sha":"` + commitA + `","siblings":[{"rfilename":"../x"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseRepoInfo(data)
		if err != nil {
			return
		}
		if !isCommit(info.commit) {
			t.Fatalf("accepted commit %q", info.commit)
		}
		for p, rf := range info.files {
			if checkRepoPath(p) != nil || rf.size < -1 || (rf.sha256 != "" && !sha256RE.MatchString(rf.sha256)) {
				t.Fatalf("accepted file %q %+v", p, rf)
			}
		}
	})
}

func FuzzParseShardIndex(f *testing.F) {
	f.Add(shardIndex("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"))
	f.Add([]byte(`{"weight_map": {"w": "../../x"}}`))
	f.Add([]byte(`{"weight_map": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		shards, err := parseShardIndex(data)
		if err != nil {
			return
		}
		if len(shards) == 0 || !slices.IsSorted(shards) {
			t.Fatalf("shards %v", shards)
		}
		for _, s := range shards {
			if checkRepoPath(s) != nil || strings.Contains(s, "/") {
				t.Fatalf("accepted shard %q", s)
			}
		}
	})
}

func FuzzParseModelIndex(f *testing.F) {
	f.Add([]byte(`{"_class_name": "P", "vae": ["diffusers", "AutoencoderDC"], "x": [null, null]}`))
	f.Add([]byte(`{"..": ["a", "b"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		comps, err := parseModelIndex(data)
		if err != nil {
			return
		}
		for _, c := range comps {
			if checkRepoPath(c) != nil || strings.Contains(c, "/") || strings.HasPrefix(c, "_") {
				t.Fatalf("accepted component %q", c)
			}
		}
	})
}
