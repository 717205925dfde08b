package weights

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sanafarm/sanafarm/kernels"
)

// TestGoldenFile reads a file written by the Python safetensors library.
func TestGoldenFile(t *testing.T) {
	f, err := Open(os.DirFS("testdata"), "golden_inputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mask, err := f.Tensor("encoder_attention_mask")
	if err != nil {
		t.Fatal(err)
	}
	if mask.DType() != kernels.Int64 || !equalInts(mask.Shape(), []int{2, 10}) {
		t.Fatalf("mask is %v, want I64[2 10]", mask)
	}
	var valid [2]int64
	for i, v := range mask.I64() {
		valid[i/10] += v
	}
	if valid != [2]int64{7, 4} {
		t.Errorf("valid lengths %v, want [7 4] (README)", valid)
	}
	ts, err := f.Tensor("timestep")
	if err != nil {
		t.Fatal(err)
	}
	if got := ts.F32(); got[0] != 999 || got[1] != 437.5 {
		t.Errorf("timestep = %v, want [999 437.5]", got)
	}
	hs, _ := f.Tensor("hidden_states")
	if !equalInts(hs.Shape(), []int{2, 8, 4, 6}) {
		t.Errorf("hidden_states shape %v", hs.Shape())
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sampleTensors(t *testing.T) map[string]*kernels.Tensor {
	t.Helper()
	w := kernels.MustNew(kernels.Float32, 3, 4)
	for i := range w.F32() {
		w.F32()[i] = float32(i) - 5.5
	}
	h, err := w.ToHalf(kernels.BFloat16)
	if err != nil {
		t.Fatal(err)
	}
	f16, _ := w.ToHalf(kernels.Float16)
	ids, _ := kernels.FromI64([]int64{2, -1, 1 << 40}, 3)
	i32, _ := kernels.FromI32([]int32{7, -7}, 2)
	return map[string]*kernels.Tensor{"w": w, "w.bf16": h, "w.f16": f16, "ids": ids, "i32": i32,
		"scalar": kernels.MustNew(kernels.Float32)}
}

func encode(t *testing.T, ts map[string]*kernels.Tensor) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteReadRoundTrip(t *testing.T) {
	ts := sampleTensors(t)
	f, err := OpenBytes("mem", encode(t, ts))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Metadata["format"] != "pt" {
		t.Errorf("metadata lost: %v", f.Header.Metadata)
	}
	for name, want := range ts {
		got, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType() != want.DType() || !equalInts(got.Shape(), want.Shape()) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
		for i := 0; i < want.Len(); i++ {
			if got.At(i) != want.At(i) {
				t.Fatalf("%s[%d] = %v, want %v", name, i, got.At(i), want.At(i))
			}
		}
	}
}

func TestCorruptFiles(t *testing.T) {
	good := encode(t, sampleTensors(t))
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"short length", good[:5], "truncated"},
		{"header past end", good[:20], "exceeds the file"},
		{"data truncated", good[:len(good)-3], "outside the"},
		{"not json", append([]byte{4, 0, 0, 0, 0, 0, 0, 0}, "nope"...), "not a JSON object"},
		{"huge length", []byte{255, 255, 255, 255, 255, 255, 255, 255, 0}, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := OpenBytes("bad.safetensors", c.data)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.safetensors") {
				t.Errorf("error %q should name the file and contain %q", err, c.want)
			}
		})
	}
}

func TestParseHeaderErrors(t *testing.T) {
	cases := []struct{ name, js, want string }{
		{"dtype", `{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}`, `unsupported dtype "C64"`},
		{"size", `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, "needs 12 bytes"},
		{"offsets", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, "data_offsets has 1"},
		{"neg shape", `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, "bad shape"},
		{"overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, "overlap"},
		{"metadata", `{"__metadata__":{"a":1}}`, "__metadata__"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseHeader([]byte(c.js), 64)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLoaderListsEveryProblem(t *testing.T) {
	f, err := OpenBytes("mem", encode(t, sampleTensors(t)))
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoader(f, "tiny")
	if l.Get("w", 3, 4) == nil {
		t.Fatal("w should load")
	}
	l.Get("missing.b")
	l.Get("missing.a")
	l.Get("w.bf16", 4, 3)
	if l.Optional("nope") != nil {
		t.Error("optional missing tensor should be nil")
	}
	err = l.Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"2 missing tensors: missing.a, missing.b", "w.bf16 has shape [3 4], want [4 3]", "tiny"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestShardedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ts := sampleTensors(t)
	shards := []map[string]*kernels.Tensor{{"w": ts["w"], "ids": ts["ids"]}, {"w.bf16": ts["w.bf16"]}}
	idx := indexFile{WeightMap: map[string]string{}}
	for i, s := range shards {
		name := []string{"m-00001-of-00002.safetensors", "m-00002-of-00002.safetensors"}[i]
		if err := os.WriteFile(filepath.Join(dir, name), encode(t, s), 0o644); err != nil {
			t.Fatal(err)
		}
		for n := range s {
			idx.WeightMap[n] = name
		}
	}
	js, _ := json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "m.safetensors.index.json"), js, 0o644)
	fsys := os.DirFS(dir)
	p, err := FindCheckpoint(fsys, ".", "m", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(fsys, p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := strings.Join(c.Names(), ","); got != "ids,w,w.bf16" {
		t.Errorf("names = %s", got)
	}
	b, err := c.Tensor("w.bf16")
	if err != nil || b.DType() != kernels.BFloat16 {
		t.Fatalf("w.bf16: %v %v", b, err)
	}
	// An index naming a tensor its shard lacks is an error naming both.
	idx.WeightMap["ghost"] = "m-00002-of-00002.safetensors"
	js, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "m.safetensors.index.json"), js, 0o644)
	if _, err := OpenCheckpoint(fsys, p); err == nil || !strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("ghost tensor: err = %v", err)
	}
}

func TestDecodeJSONNonFinite(t *testing.T) {
	var cfg struct {
		Class     string `json:"_class_name"`
		LambdaMin Float  `json:"lambda_min_clipped"`
		Shift     Float  `json:"flow_shift"`
	}
	if err := ReadConfig(os.DirFS("testdata"), "scheduler_config.json", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Class != "DPMSolverMultistepScheduler" || !math.IsInf(float64(cfg.LambdaMin), -1) || cfg.Shift != 3 {
		t.Errorf("decoded %+v", cfg)
	}
	var s struct {
		A string `json:"a"`
		B Float  `json:"b"`
		C Float  `json:"c"`
	}
	if err := DecodeJSON([]byte(`{"a":"NaN \"Infinity\"","b":NaN,"c":Infinity}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.A != `NaN "Infinity"` || !math.IsNaN(float64(s.B)) || !math.IsInf(float64(s.C), 1) {
		t.Errorf("decoded %+v", s)
	}
	if err := DecodeJSON([]byte(`{"a":"x`), &s); err == nil {
		t.Error("unterminated string accepted")
	}
}

func TestOpenFS(t *testing.T) {
	fsys := fstest.MapFS{"x.safetensors": {Data: encode(t, sampleTensors(t))}}
	f, err := Open(fsys, "x.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tensor("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing tensor error %v", err)
	}
	if _, err := Open(fsys, "absent.safetensors"); err == nil {
		t.Error("opening an absent file succeeded")
	}
}
