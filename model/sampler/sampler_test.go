package sampler

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sanafarm/sanafarm/model/weights"
)

type goldenCase struct {
	dir     string
	class   string
	latTol  float64 // README tolerance for latents (1e-5 for schedulers)
	intTime bool
}

var goldenCases = []goldenCase{
	{dir: "flow_dpm_solver", class: ClassDPMSolver, latTol: 1e-5, intTime: true},
	{dir: "flow_euler", class: ClassEuler, latTol: 1e-5},
}

func openGolden(t *testing.T, dir, name string) *weights.File {
	t.Helper()
	f, err := weights.Open(os.DirFS("../../testdata/golden/"+dir), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func read(t *testing.T, f *weights.File, name string) []float64 {
	t.Helper()
	v, _, err := f.Float64s(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGoldenGrids checks sigmas and timesteps for every N in the golden set:
// timesteps exactly, sigmas to float32 rounding.
func TestGoldenGrids(t *testing.T) {
	for _, gc := range goldenCases {
		cfg, err := ReadConfig(os.DirFS("../../testdata/golden/"+gc.dir), "scheduler_config.json")
		if err != nil {
			t.Fatal(err)
		}
		out := openGolden(t, gc.dir, "outputs.safetensors")
		for _, n := range []int{1, 2, 3, 5, 10, 20, 28, 50} {
			t.Run(fmt.Sprintf("%s/n%d", gc.dir, n), func(t *testing.T) {
				s, err := New(cfg, n)
				if err != nil {
					t.Fatal(err)
				}
				wantT := read(t, out, fmt.Sprintf("n%d.timesteps", n))
				wantS := read(t, out, fmt.Sprintf("n%d.sigmas", n))
				for i, w := range wantT {
					if got := float64(s.Timestep(i)); got != w {
						t.Errorf("timestep[%d] = %v, want %v exactly", i, got, w)
					}
				}
				for i, w := range wantS {
					if got := float64(s.Sigmas()[i]); got != w {
						t.Errorf("sigma[%d] = %v, want %v", i, got, w)
					}
				}
			})
		}
	}
}

// TestGoldenRuns replays the README's deterministic model
// v = 0.5·x + 0.1·(t/1000) + c and compares every latent.
func TestGoldenRuns(t *testing.T) {
	for _, gc := range goldenCases {
		cfg, err := ReadConfig(os.DirFS("../../testdata/golden/"+gc.dir), "scheduler_config.json")
		if err != nil {
			t.Fatal(err)
		}
		in := openGolden(t, gc.dir, "inputs.safetensors")
		out := openGolden(t, gc.dir, "outputs.safetensors")
		x0 := read(t, in, "initial_latent")
		c := read(t, in, "c")
		for _, n := range []int{1, 2, 3, 5, 10, 20, 28, 50} {
			name := fmt.Sprintf("run%d.latents", n)
			if _, ok := out.Info(name); !ok {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", gc.dir, name), func(t *testing.T) {
				want := read(t, out, name)
				worst := replay(t, cfg, n, x0, c, want)
				t.Logf("max abs diff %.3g", worst)
				if worst > gc.latTol {
					t.Errorf("max abs diff %.3g > tol %g", worst, gc.latTol)
				}
			})
		}
	}
}

func replay(t *testing.T, cfg Config, n int, x0, c, want []float64) float64 {
	t.Helper()
	s, err := New(cfg, n)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(x0))
	for i, v := range x0 {
		x[i] = float32(v)
	}
	v := make([]float32, len(x))
	worst := 0.0
	for i := 0; i < n; i++ {
		tt := s.Timestep(i) / 1000
		for j := range x {
			v[j] = 0.5*x[j] + 0.1*tt + float32(c[j])
		}
		if err := s.Step(i, v, x); err != nil {
			t.Fatal(err)
		}
		for j := range x {
			worst = math.Max(worst, math.Abs(float64(x[j])-want[(i+1)*len(x)+j]))
		}
	}
	return worst
}

func TestStepErrors(t *testing.T) {
	cfg, _ := ParseConfig([]byte(`{"_class_name":"DPMSolverMultistepScheduler","use_flow_sigmas":true,"prediction_type":"flow_prediction","flow_shift":3}`))
	s, err := New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 4)
	if err := s.Step(1, x, x); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Errorf("out-of-order step: %v", err)
	}
	if err := s.Step(0, x[:2], x); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := New(cfg, 0); err == nil {
		t.Error("0 steps accepted")
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{"_class_name":"DDIMScheduler"}`, `unsupported _class_name "DDIMScheduler"`},
		{`{"_class_name":"DPMSolverMultistepScheduler","prediction_type":"flow_prediction"}`, "use_flow_sigmas"},
		{`{"_class_name":"DPMSolverMultistepScheduler","use_flow_sigmas":true,"prediction_type":"epsilon"}`, "prediction_type = epsilon"},
		{`{"_class_name":"DPMSolverMultistepScheduler","use_flow_sigmas":true,"prediction_type":"flow_prediction","solver_order":3}`, "solver_order = 3"},
		{`{"_class_name":"DPMSolverMultistepScheduler","use_flow_sigmas":true,"prediction_type":"flow_prediction","use_karras_sigmas":true}`, "karras"},
		{`{"_class_name":"FlowMatchEulerDiscreteScheduler","use_dynamic_shifting":true}`, "use_dynamic_shifting"},
		{`{"_class_name":"FlowMatchEulerDiscreteScheduler","shift":-1}`, "shift = -1"},
	}
	for _, c := range cases {
		cfg, err := ParseConfig([]byte(c.json))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.json, err, c.want)
		}
	}
}

// FuzzParseConfig: arbitrary config bytes never panic parsing, validation
// or grid construction.
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("../../testdata/golden/flow_dpm_solver/scheduler_config.json"); err == nil {
		f.Add(b, 20)
	}
	if b, err := os.ReadFile("../../testdata/golden/flow_euler/scheduler_config.json"); err == nil {
		f.Add(b, 3)
	}
	f.Add([]byte(`{"_class_name":"FlowMatchEulerDiscreteScheduler","shift":NaN}`), 4)
	f.Add([]byte(`{"_class_name":"DPMSolverMultistepScheduler","use_flow_sigmas":true,"prediction_type":"flow_prediction","flow_shift":Infinity}`), 4)
	f.Add([]byte(`{"_class_name":"FlowMatchEulerDiscreteScheduler","num_train_timesteps":-1000}`), 4)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		n = 1 + (n%200+200)%200
		s, err := New(cfg, n)
		if err != nil {
			return
		}
		// An accepted config samples: finite, non-negative sigmas that
		// never rise (a NaN or negative one renders garbage silently).
		sig := s.Sigmas()
		for i, v := range sig {
			if !isFinite(float64(v)) || v < 0 || i > 0 && v > sig[i-1] {
				t.Fatalf("accepted config gives sigmas %v", sig)
			}
		}
	})
}

// FuzzSCMConfig: a Sprint scheduler_config.json never panics, and an
// accepted one gives finite angles from max_timesteps down to 0.
func FuzzSCMConfig(f *testing.F) {
	f.Add([]byte(`{"_class_name":"SCMScheduler","prediction_type":"trigflow","sigma_data":0.5,"max_timesteps":1.5708}`), 2)
	f.Add([]byte(`{"_class_name":"SCMScheduler","prediction_type":"trigflow","max_timesteps":Infinity}`), 3)
	f.Add([]byte(`{"_class_name":"SCMScheduler","prediction_type":"trigflow","intermediate_timesteps":NaN}`), 2)
	f.Add([]byte(`{"_class_name":"SCMScheduler","prediction_type":"trigflow","num_train_timesteps":-1}`), 2)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		c, err := ReadSCMConfig(fstest.MapFS{"s.json": {Data: data}}, "s.json")
		if err != nil {
			return
		}
		s, err := NewSCM(c, 1+(n%8+8)%8, nil)
		if err != nil {
			return
		}
		ts := s.Timesteps()
		if !isFinite(float64(s.SigmaData())) || !(s.SigmaData() > 0) || ts[len(ts)-1] != 0 {
			t.Fatalf("accepted sigma_data %v, angles %v", s.SigmaData(), ts)
		}
		for _, v := range ts {
			if !isFinite(float64(v)) {
				t.Fatalf("accepted config gives angles %v", ts)
			}
		}
	})
}
