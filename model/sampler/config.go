// Package sampler implements the flow-matching samplers Sana ships with:
// Flow-DPM-Solver++ 2M (diffusers DPMSolverMultistepScheduler with flow
// sigmas) and Flow-Euler (FlowMatchEulerDiscreteScheduler), reproducing
// diffusers' sigma/timestep grids exactly.
package sampler

import (
	"fmt"
	"io/fs"
	"math"

	"github.com/sanafarm/sanafarm/model/weights"
)

// Class names of the supported diffusers schedulers.
const (
	ClassDPMSolver = "DPMSolverMultistepScheduler"
	ClassEuler     = "FlowMatchEulerDiscreteScheduler"
)

// Config is the subset of a diffusers scheduler_config.json that the flow
// samplers use. Unset fields take diffusers' defaults (see Defaults).
type Config struct {
	ClassName         string        `json:"_class_name"`
	NumTrainTimesteps int           `json:"num_train_timesteps"`
	FlowShift         weights.Float `json:"flow_shift"` // DPM-Solver
	Shift             weights.Float `json:"shift"`      // Flow-Euler
	AlgorithmType     string        `json:"algorithm_type"`
	SolverOrder       int           `json:"solver_order"`
	SolverType        string        `json:"solver_type"`
	PredictionType    string        `json:"prediction_type"`
	UseFlowSigmas     *bool         `json:"use_flow_sigmas"`
	FinalSigmasType   string        `json:"final_sigmas_type"`
	LowerOrderFinal   *bool         `json:"lower_order_final"`
	EulerAtFinal      bool          `json:"euler_at_final"`
	TimestepSpacing   string        `json:"timestep_spacing"`
	Thresholding      bool          `json:"thresholding"`
	UseKarrasSigmas   bool          `json:"use_karras_sigmas"`
	UseExponential    bool          `json:"use_exponential_sigmas"`
	UseBetaSigmas     bool          `json:"use_beta_sigmas"`
	UseLuLambdas      bool          `json:"use_lu_lambdas"`
	UseDynamicShift   bool          `json:"use_dynamic_shifting"`
	InvertSigmas      bool          `json:"invert_sigmas"`
	StochasticSamplng bool          `json:"stochastic_sampling"`
	ShiftTerminal     *float64      `json:"shift_terminal"`
}

// ReadConfig reads a scheduler_config.json from fsys.
func ReadConfig(fsys fs.FS, name string) (Config, error) {
	var c Config
	if err := weights.ReadConfig(fsys, name, &c); err != nil {
		return Config{}, err
	}
	return c.withDefaults(), nil
}

// ParseConfig decodes scheduler config JSON (NaN/±Infinity allowed).
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if err := weights.DecodeJSON(data, &c); err != nil {
		return Config{}, err
	}
	return c.withDefaults(), nil
}

func (c Config) withDefaults() Config {
	if c.NumTrainTimesteps == 0 {
		c.NumTrainTimesteps = 1000
	}
	if c.ClassName == ClassDPMSolver {
		if c.AlgorithmType == "" {
			c.AlgorithmType = "dpmsolver++"
		}
		if c.SolverOrder == 0 {
			c.SolverOrder = 2
		}
		if c.SolverType == "" {
			c.SolverType = "midpoint"
		}
		if c.FinalSigmasType == "" {
			c.FinalSigmasType = "zero"
		}
		if c.TimestepSpacing == "" {
			c.TimestepSpacing = "linspace"
		}
		if c.FlowShift == 0 {
			c.FlowShift = 1
		}
		if c.LowerOrderFinal == nil {
			t := true
			c.LowerOrderFinal = &t
		}
	}
	if c.ClassName == ClassEuler && c.Shift == 0 {
		c.Shift = 1
	}
	return c
}

// Validate reports, naming the field and value, any option the flow samplers
// do not implement, instead of silently sampling with different math.
func (c Config) Validate() error {
	if c.NumTrainTimesteps < 1 || c.NumTrainTimesteps > MaxTrainTimesteps {
		return fmt.Errorf("scheduler %s: num_train_timesteps = %d is not supported (want 1 to %d)", c.ClassName, c.NumTrainTimesteps, MaxTrainTimesteps)
	}
	switch c.ClassName {
	case ClassDPMSolver:
		return c.validateDPM()
	case ClassEuler:
		return c.validateEuler()
	}
	return fmt.Errorf("scheduler: unsupported _class_name %q (want %s or %s)", c.ClassName, ClassDPMSolver, ClassEuler)
}

func (c Config) validateDPM() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("scheduler %s: %s = %v is not supported (want %s)", c.ClassName, field, v, want)
	}
	switch {
	case c.UseFlowSigmas == nil || !*c.UseFlowSigmas:
		return bad("use_flow_sigmas", c.UseFlowSigmas != nil && *c.UseFlowSigmas, "true")
	case c.PredictionType != "flow_prediction":
		return bad("prediction_type", c.PredictionType, "flow_prediction")
	case c.AlgorithmType != "dpmsolver++":
		return bad("algorithm_type", c.AlgorithmType, "dpmsolver++")
	case c.SolverOrder != 1 && c.SolverOrder != 2:
		return bad("solver_order", c.SolverOrder, "1 or 2")
	case c.SolverType != "midpoint":
		return bad("solver_type", c.SolverType, "midpoint")
	case c.FinalSigmasType != "zero" && c.FinalSigmasType != "sigma_min":
		return bad("final_sigmas_type", c.FinalSigmasType, "zero or sigma_min")
	case c.TimestepSpacing != "linspace":
		return bad("timestep_spacing", c.TimestepSpacing, "linspace")
	case c.Thresholding:
		return bad("thresholding", true, "false")
	case c.UseKarrasSigmas || c.UseExponential || c.UseBetaSigmas || c.UseLuLambdas:
		return bad("use_{karras,exponential,beta}_sigmas/use_lu_lambdas", true, "false")
	case c.UseDynamicShift:
		return bad("use_dynamic_shifting", true, "false")
	case !finitePositive(float64(c.FlowShift)):
		return bad("flow_shift", float64(c.FlowShift), "a finite number > 0")
	}
	return nil
}

func (c Config) validateEuler() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("scheduler %s: %s = %v is not supported (want %s)", c.ClassName, field, v, want)
	}
	switch {
	case c.UseDynamicShift:
		return bad("use_dynamic_shifting", true, "false")
	case c.UseKarrasSigmas || c.UseExponential || c.UseBetaSigmas:
		return bad("use_{karras,exponential,beta}_sigmas", true, "false")
	case c.InvertSigmas || c.StochasticSamplng:
		return bad("invert_sigmas/stochastic_sampling", true, "false")
	case c.ShiftTerminal != nil:
		return bad("shift_terminal", *c.ShiftTerminal, "null")
	case !finitePositive(float64(c.Shift)):
		return bad("shift", float64(c.Shift), "a finite number > 0")
	}
	return nil
}

// MaxTrainTimesteps bounds num_train_timesteps: every released scheduler
// config says 1000, and the timesteps are σ·T in an int64.
const MaxTrainTimesteps = 1_000_000

// finitePositive is v > 0 and not +Inf (a NaN fails too): the sigmas are
// computed from it, and a NaN would render NaN images without an error.
func finitePositive(v float64) bool { return v > 0 && !math.IsInf(v, 1) }

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
