package sampler

import (
	"math"
	"testing"
)

func TestSCMTimesteps(t *testing.T) {
	cases := []struct {
		name   string
		n      int
		custom []float32
		want   []float64
	}{
		{"two steps use the intermediate angle", 2, nil, []float64{1.5708, 1.3, 0}},
		{"one step", 1, nil, []float64{1.5708, 0}},
		{"three steps linspace", 3, nil, []float64{1.5708, 1.5708 * 2 / 3, 1.5708 / 3, 0}},
		{"four steps linspace", 4, nil, []float64{1.5708, 1.1781, 0.7854, 0.3927, 0}},
		{"custom", 2, []float32{1.5, 1.0, 0}, []float64{1.5, 1.0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSCM(DefaultSCMConfig(), c.n, c.custom)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Timesteps()
			if len(got) != len(c.want) || s.Steps() != c.n {
				t.Fatalf("timesteps %v (steps %d), want %v", got, s.Steps(), c.want)
			}
			for i, w := range c.want {
				if math.Abs(float64(got[i])-w) > 1e-6 {
					t.Errorf("s[%d] = %.8g, want %.8g", i, got[i], w)
				}
			}
		})
	}
}

// TestSCMModelTime checks τ against docs/sana.md §1.3 (τ ≈ 1.0000037 at
// s = 1.5708, because cos(1.5708) < 0, and 0.7827081 at s = 1.3).
func TestSCMModelTime(t *testing.T) {
	s, _ := NewSCM(DefaultSCMConfig(), 2, nil)
	for i, want := range []float64{1.0000037, 0.7827081} {
		tau, c := s.ModelTime(i)
		if math.Abs(float64(tau)-want) > 2e-7 {
			t.Errorf("tau[%d] = %.8g, want %.8g", i, tau, want)
		}
		wc := math.Sqrt(want*want + (1-want)*(1-want))
		if math.Abs(float64(c)-wc) > 1e-6 {
			t.Errorf("c[%d] = %.8g, want %.8g", i, c, wc)
		}
	}
}

// TestSCMLoop runs a two-step Sprint loop on a deterministic "model"
// v = 0.3·x_in − 0.1 and compares with an independent float64 computation
// of the same formulas (diffusers SanaSprintPipeline + SCMScheduler).
func TestSCMLoop(t *testing.T) {
	x := []float32{0.5, -1.25, 0.75, 2}
	noise := [][]float32{{0.1, -0.2, 0.3, -0.4}, {1, 0.5, -0.5, -1}}
	ref := make([]float64, len(x))
	for j := range x {
		ref[j] = float64(x[j])
	}
	var refX0 []float64
	ts := []float64{1.5708, 1.3, 0}
	for i := 0; i < 2; i++ {
		s := ts[i]
		tau := math.Sin(s) / (math.Cos(s) + math.Sin(s))
		c := math.Sqrt(tau*tau + (1-tau)*(1-tau))
		refX0 = make([]float64, len(x))
		for j := range ref {
			in := ref[j] / 0.5 * c
			v := 0.3*in - 0.1
			f := 0.5 * ((1-2*tau)*in + (1-2*tau+2*tau*tau)*v) / c
			refX0[j] = math.Cos(s)*ref[j] - math.Sin(s)*f
			ref[j] = math.Cos(ts[i+1])*refX0[j] + math.Sin(ts[i+1])*0.5*float64(noise[i][j])
		}
	}
	s, _ := NewSCM(DefaultSCMConfig(), 2, nil)
	var x0 []float32
	for i := 0; i < s.Steps(); i++ {
		_, c := s.ModelTime(i)
		in := make([]float32, len(x))
		v := make([]float32, len(x))
		for j := range x {
			in[j] = x[j] / s.SigmaData() * c
			v[j] = 0.3*in[j] - 0.1
		}
		s.Precondition(i, in, v)
		var err error
		if x0, err = s.Step(i, v, x, noise[i]); err != nil {
			t.Fatal(err)
		}
	}
	for j := range x {
		if d := math.Abs(float64(x0[j]) - refX0[j]); d > 1e-5 {
			t.Errorf("x0[%d] = %.7g, want %.7g", j, x0[j], refX0[j])
		}
		if d := math.Abs(float64(x[j]) - ref[j]); d > 1e-5 {
			t.Errorf("x[%d] = %.7g, want %.7g", j, x[j], ref[j])
		}
	}
	if _, err := s.Step(2, x, x, x); err == nil {
		t.Error("a step past the end should fail")
	}
}

func TestSCMConfigErrors(t *testing.T) {
	bad := DefaultSCMConfig()
	bad.PredictionType = "epsilon"
	if _, err := NewSCM(bad, 2, nil); err == nil {
		t.Error("prediction_type epsilon accepted")
	}
	if _, err := NewSCM(DefaultSCMConfig(), 0, nil); err == nil {
		t.Error("0 steps accepted")
	}
}
