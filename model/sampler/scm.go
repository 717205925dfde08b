package sampler

import (
	"fmt"
	"io/fs"
	"math"

	"github.com/sanafarm/sanafarm/model/weights"
)

// ClassSCM is the diffusers class name of the Sana-Sprint scheduler.
const ClassSCM = "SCMScheduler"

// SCMConfig is the subset of an SCMScheduler scheduler_config.json that
// Sprint sampling uses. Unset fields take diffusers' defaults.
type SCMConfig struct {
	ClassName             string         `json:"_class_name"`
	NumTrainTimesteps     int            `json:"num_train_timesteps"`
	PredictionType        string         `json:"prediction_type"`
	MaxTimesteps          weights.Float  `json:"max_timesteps"`
	IntermediateTimesteps *weights.Float `json:"intermediate_timesteps"`
	SigmaData             weights.Float  `json:"sigma_data"`
}

// DefaultSCMConfig is SCMScheduler's constructor defaults.
func DefaultSCMConfig() SCMConfig {
	inter := weights.Float(1.3)
	return SCMConfig{ClassName: ClassSCM, NumTrainTimesteps: 1000, PredictionType: "trigflow",
		MaxTimesteps: 1.57080, IntermediateTimesteps: &inter, SigmaData: 0.5}
}

// ReadSCMConfig reads an SCMScheduler scheduler_config.json from fsys.
func ReadSCMConfig(fsys fs.FS, name string) (SCMConfig, error) {
	c := DefaultSCMConfig()
	if err := weights.ReadConfig(fsys, name, &c); err != nil {
		return SCMConfig{}, err
	}
	return c, c.Validate()
}

// Validate rejects options the SCM sampler does not implement.
func (c SCMConfig) Validate() error {
	switch {
	case c.ClassName != ClassSCM:
		return fmt.Errorf("scheduler: _class_name %q is not %s", c.ClassName, ClassSCM)
	case c.PredictionType != "trigflow":
		return fmt.Errorf("scheduler %s: prediction_type = %q is not supported (want trigflow)", ClassSCM, c.PredictionType)
	case !finitePositive(float64(c.SigmaData)) || !finitePositive(float64(c.MaxTimesteps)):
		return fmt.Errorf("scheduler %s: sigma_data %g and max_timesteps %g must be finite and > 0", ClassSCM, c.SigmaData, c.MaxTimesteps)
	case c.IntermediateTimesteps != nil && !isFinite(float64(*c.IntermediateTimesteps)):
		return fmt.Errorf("scheduler %s: intermediate_timesteps = %g (want a finite number or null)", ClassSCM, *c.IntermediateTimesteps)
	case c.NumTrainTimesteps < 0 || c.NumTrainTimesteps > MaxTrainTimesteps:
		return fmt.Errorf("scheduler %s: num_train_timesteps = %d (want 0 to %d)", ClassSCM, c.NumTrainTimesteps, MaxTrainTimesteps)
	}
	return nil
}

// SCM is diffusers' SCMScheduler (TrigFlow consistency sampling, Sana-Sprint):
// float32 angles s_0 > … > s_N = 0; at each step the model's TrigFlow
// prediction F gives x0 = cos(s)·x − sin(s)·F and the next sample
// cos(s′)·x0 + sin(s′)·σ_d·ε with fresh noise ε.
type SCM struct {
	ts        []float32
	sigmaData float32
	next      int
}

// NewSCM sets n steps. custom, when it has n+1 entries, replaces the
// schedule (diffusers' timesteps argument); otherwise n = 2 with
// intermediate_timesteps gives [max, intermediate, 0] and any other n
// torch.linspace(max, 0, n+1) in float32.
func NewSCM(c SCMConfig, n int, custom []float32) (*SCM, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if n < 1 || n > c.NumTrainTimesteps && c.NumTrainTimesteps > 0 {
		return nil, fmt.Errorf("scheduler %s: steps = %d, want 1…%d", ClassSCM, n, max(c.NumTrainTimesteps, 1))
	}
	s := &SCM{sigmaData: float32(c.SigmaData)}
	switch {
	case len(custom) == n+1:
		s.ts = append([]float32(nil), custom...)
	case c.IntermediateTimesteps != nil && *c.IntermediateTimesteps != 0 && n == 2:
		s.ts = []float32{float32(c.MaxTimesteps), float32(*c.IntermediateTimesteps), 0}
	default:
		s.ts = torchLinspace32(float32(c.MaxTimesteps), 0, n+1)
	}
	return s, nil
}

// torchLinspace32 reproduces torch.linspace for float32: step computed in
// float32, the first half counted from start and the second from end.
func torchLinspace32(start, end float32, num int) []float32 {
	out := make([]float32, num)
	if num == 1 {
		out[0] = start
		return out
	}
	step := (end - start) / float32(num-1)
	half := num / 2
	for i := range out {
		if i < half {
			out[i] = start + float32(step*float32(i))
		} else {
			out[i] = end - float32(step*float32(num-1-i))
		}
	}
	return out
}

// Steps returns N.
func (s *SCM) Steps() int { return len(s.ts) - 1 }

// Timesteps returns the N+1 angles (the last is 0).
func (s *SCM) Timesteps() []float32 { return s.ts }

// SigmaData is σ_d (0.5 for Sprint).
func (s *SCM) SigmaData() float32 { return s.sigmaData }

// ModelTime returns, for step i, the transformer timestep τ = sin s/(cos s
// + sin s) and the input scale c = √(τ² + (1−τ)²), in float32 as the
// pipeline computes them.
func (s *SCM) ModelTime(i int) (tau, c float32) {
	t := s.ts[i]
	sin, cos := sin32(t), cos32(t)
	tau = sin / (cos + sin)
	u := 1 - tau
	c = float32(math.Sqrt(float64(float32(tau*tau) + float32(u*u))))
	return tau, c
}

// Precondition turns the raw transformer output v (at input xIn =
// (x/σ_d)·c) into the scaled TrigFlow prediction σ_d·F, in place in v:
// F = ((1−2τ)·xIn + (1−2τ+2τ²)·v)/c.
func (s *SCM) Precondition(i int, xIn, v []float32) {
	tau, c := s.ModelTime(i)
	a := 1 - 2*tau
	b := 1 - 2*tau + float32(2*float32(tau*tau))
	for j := range v {
		f := (float32(a*xIn[j]) + float32(b*v[j])) / c
		v[j] = f * s.sigmaData
	}
}

// Step applies step i: x0 = cos(s)·x − sin(s)·F (F the preconditioned,
// σ_d-scaled prediction), then x ← cos(s′)·x0 + sin(s′)·σ_d·noise with
// noise ~ N(0, I) of len(x) (diffusers draws it even on the last step). It
// returns x0 (a new slice).
func (s *SCM) Step(i int, f, x, noise []float32) ([]float32, error) {
	if i != s.next || i >= s.Steps() {
		return nil, fmt.Errorf("scm: step %d out of order (next is %d of %d)", i, s.next, s.Steps())
	}
	if len(f) != len(x) || len(noise) != len(x) {
		return nil, fmt.Errorf("scm: model output %d, noise %d and sample %d values differ", len(f), len(noise), len(x))
	}
	cs, ss := cos32(s.ts[i]), sin32(s.ts[i])
	ct, st := cos32(s.ts[i+1]), sin32(s.ts[i+1])
	x0 := make([]float32, len(x))
	for j := range x {
		x0[j] = float32(cs*x[j]) - float32(ss*f[j])
		x[j] = float32(ct*x0[j]) + float32(st*float32(noise[j]*s.sigmaData))
	}
	s.next++
	return x0, nil
}

func sin32(x float32) float32 { return float32(math.Sin(float64(x))) }
func cos32(x float32) float32 { return float32(math.Cos(float64(x))) }
