package sampler

import (
	"fmt"
	"math"
)

// Sampler advances flow-matching latents one step at a time. A Sampler is
// stateful (DPM-Solver keeps the previous x0): use one per generation.
type Sampler interface {
	// Steps is the number of steps N.
	Steps() int
	// Sigmas are the N+1 float32 noise levels (the last is the final one).
	Sigmas() []float32
	// Timestep is the value fed to the transformer at step i (before the
	// model's timestep_scale): trunc(σ·1000) for DPM-Solver, σ·1000 for Euler.
	Timestep(i int) float32
	// Step updates x in place from the guided velocity v at step i. Steps
	// must be taken in order 0..N−1.
	Step(i int, v, x []float32) error
}

// New builds the sampler a validated config describes for n steps.
func New(c Config, n int) (Sampler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("scheduler %s: steps = %d, want ≥ 1", c.ClassName, n)
	}
	if c.ClassName == ClassEuler {
		return newEuler(c, n), nil
	}
	return newDPM(c, n), nil
}

// shifted is the flow shift σ' = shift·σ/(1 + (shift−1)·σ). The explicit
// conversions forbid fused multiply-adds, which would change the truncated
// timesteps on architectures that fuse (e.g. arm64).
func shifted(shift, s float64) float64 {
	return float64(shift*s) / (1 + float64((shift-1)*s))
}

// linspace reproduces numpy.linspace(start, stop, num) bit for bit:
// start + i·step with step = (stop−start)/(num−1), and the last value
// forced to stop.
func linspace(start, stop float64, num int) []float64 {
	out := make([]float64, num)
	if num == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(num-1)
	for i := range out {
		out[i] = float64(float64(i)*step) + start
	}
	out[num-1] = stop
	return out
}

// DPMSolver is diffusers' DPMSolverMultistepScheduler configured the way the
// Sana repos ship it (dpmsolver++, midpoint, flow sigmas, flow_prediction).
type DPMSolver struct {
	sigmas    []float32
	timesteps []int64
	order     int
	lowerFin  bool
	zeroFinal bool
	prevX0    []float32
	lowerNums int
	next      int
}

func newDPM(c Config, n int) *DPMSolver {
	alphas := linspace(1, 1/float64(c.NumTrainTimesteps), n+1)
	shift := float64(c.FlowShift)
	sig := make([]float64, n+1)
	for i, a := range alphas { // flip: sig[i] = shifted(1 − alphas[n−i])
		sig[n-i] = shifted(shift, 1-a)
	}
	sig = sig[:n] // drop the trailing (smallest) value
	d := &DPMSolver{order: c.SolverOrder, lowerFin: *c.LowerOrderFinal, zeroFinal: c.FinalSigmasType == "zero"}
	for _, s := range sig {
		d.sigmas = append(d.sigmas, float32(s))
		// Truncation toward zero of the float64 σ·T, as torch .to(int64).
		d.timesteps = append(d.timesteps, int64(s*float64(c.NumTrainTimesteps)))
	}
	last := float32(0)
	if !d.zeroFinal {
		last = float32(sig[n-1])
	}
	d.sigmas = append(d.sigmas, last)
	return d
}

// Steps returns N.
func (d *DPMSolver) Steps() int { return len(d.timesteps) }

// Sigmas returns the N+1 sigmas.
func (d *DPMSolver) Sigmas() []float32 { return d.sigmas }

// Timesteps returns the integer timesteps.
func (d *DPMSolver) Timesteps() []int64 { return d.timesteps }

// Timestep returns float(trunc(σ_i·1000)).
func (d *DPMSolver) Timestep(i int) float32 { return float32(d.timesteps[i]) }

// lambda is log(α) − log(σ) for flow sigmas, in float32 like the reference.
func lambda(sigma float32) float32 {
	return float32(math.Log(float64(1-sigma))) - float32(math.Log(float64(sigma)))
}

// Step applies one DPM-Solver++ update (first order at the first step and,
// with final sigma zero or lower_order_final, at the last).
func (d *DPMSolver) Step(i int, v, x []float32) error {
	if i != d.next || i >= d.Steps() {
		return fmt.Errorf("dpm-solver: step %d out of order (next is %d of %d)", i, d.next, d.Steps())
	}
	if len(v) != len(x) {
		return fmt.Errorf("dpm-solver: model output has %d values, sample %d", len(v), len(x))
	}
	n := d.Steps()
	s0 := d.sigmas[i]
	x0 := make([]float32, len(x))
	for j := range x {
		x0[j] = x[j] - float32(s0*v[j])
	}
	finalLower := i == n-1 && (d.EulerAtFinal() || (d.lowerFin && n < 15) || d.zeroFinal)
	if d.order == 1 || d.lowerNums < 1 || finalLower {
		d.firstOrder(i, x, x0)
	} else {
		d.secondOrder(i, x, x0)
	}
	d.prevX0 = x0
	d.lowerNums = min(d.lowerNums+1, d.order)
	d.next++
	return nil
}

// EulerAtFinal is false for the shipped Sana config; kept for clarity.
func (d *DPMSolver) EulerAtFinal() bool { return false }

func (d *DPMSolver) firstOrder(i int, x, x0 []float32) {
	st, ss := d.sigmas[i+1], d.sigmas[i]
	if st == 0 { // λ_t = +∞: the update is exactly x0 (avoid 0·∞)
		copy(x, x0)
		return
	}
	at := 1 - st
	h := lambda(st) - lambda(ss)
	ratio := st / ss
	c := at * (float32(math.Exp(float64(-h))) - 1)
	for j := range x {
		x[j] = float32(ratio*x[j]) - float32(c*x0[j])
	}
}

func (d *DPMSolver) secondOrder(i int, x, x0 []float32) {
	st, s0, s1 := d.sigmas[i+1], d.sigmas[i], d.sigmas[i-1]
	at := 1 - st
	lt, l0, l1 := lambda(st), lambda(s0), lambda(s1)
	h, h0 := lt-l0, l0-l1
	r0 := h0 / h
	inv := 1 / r0
	ratio := st / s0
	c := at * (float32(math.Exp(float64(-h))) - 1)
	half := 0.5 * c
	for j := range x {
		d1 := inv * (x0[j] - d.prevX0[j])
		x[j] = float32(float32(ratio*x[j])-float32(c*x0[j])) - float32(half*d1)
	}
}

// Euler is diffusers' FlowMatchEulerDiscreteScheduler (static shift).
type Euler struct {
	sigmas    []float32
	timesteps []float32
	next      int
}

func newEuler(c Config, n int) *Euler {
	shift := float64(c.Shift)
	T := c.NumTrainTimesteps
	// Constructor sigmas are built in float32: σ_k = shift(k/T) for k = T..1.
	sMin := shiftF32(float32(shift), float32(1)/float32(T))
	sMax := shiftF32(float32(shift), float32(T)/float32(T))
	ts := linspace(float64(sMax)*float64(T), float64(sMin)*float64(T), n)
	e := &Euler{}
	for _, t := range ts {
		s := float32(shifted(shift, t/float64(T)))
		e.sigmas = append(e.sigmas, s)
		e.timesteps = append(e.timesteps, s*float32(T))
	}
	e.sigmas = append(e.sigmas, 0)
	return e
}

func shiftF32(shift, s float32) float32 { return float32(shift*s) / (1 + float32((shift-1)*s)) }

// Steps returns N.
func (e *Euler) Steps() int { return len(e.timesteps) }

// Sigmas returns the N+1 sigmas.
func (e *Euler) Sigmas() []float32 { return e.sigmas }

// Timestep returns σ_i·1000 (not truncated).
func (e *Euler) Timestep(i int) float32 { return e.timesteps[i] }

// Step applies x ← x + (σ_{i+1} − σ_i)·v.
func (e *Euler) Step(i int, v, x []float32) error {
	if i != e.next || i >= e.Steps() {
		return fmt.Errorf("flow-euler: step %d out of order (next is %d of %d)", i, e.next, e.Steps())
	}
	if len(v) != len(x) {
		return fmt.Errorf("flow-euler: model output has %d values, sample %d", len(v), len(x))
	}
	dt := e.sigmas[i+1] - e.sigmas[i]
	for j := range x {
		x[j] += float32(dt * v[j])
	}
	e.next++
	return nil
}
