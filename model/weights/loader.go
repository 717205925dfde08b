package weights

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sanafarm/sanafarm/kernels"
)

// Source is where a Loader reads tensors from (a File or a Checkpoint).
type Source interface {
	Info(name string) (Info, bool)
	Tensor(name string) (*kernels.Tensor, error)
}

// Loader binds named tensors with expected shapes and collects every
// problem, so one error lists all missing tensors and all shape mismatches
// instead of stopping at the first.
type Loader struct {
	src      Source
	origin   string
	missing  []string
	problems []string
	// nMissing and nProblems count every one; the lists keep the first
	// maxListed, so a config naming far more tensors than the file holds
	// costs a bounded error, not memory per name.
	nMissing, nProblems int
	used                map[string]bool
}

// maxListed bounds the missing tensors and problems an error names.
const maxListed = 64

func (l *Loader) addMissing(name string) {
	l.nMissing++
	if len(l.missing) < maxListed {
		l.missing = append(l.missing, name)
	}
}

func (l *Loader) addProblem(p string) {
	l.nProblems++
	if len(l.problems) < maxListed {
		l.problems = append(l.problems, p)
	}
}

// NewLoader returns a loader over src; origin names the weights in errors
// (e.g. the folder or repo).
func NewLoader(src Source, origin string) *Loader {
	return &Loader{src: src, origin: origin, used: map[string]bool{}}
}

// Get reads a required tensor and checks its shape (no check when shape is
// empty). On any problem it records it and returns nil; call Err after
// binding everything.
func (l *Loader) Get(name string, shape ...int) *kernels.Tensor {
	if _, ok := l.src.Info(name); !ok {
		l.addMissing(name)
		return nil
	}
	return l.read(name, shape)
}

// GetF32 is Get for small tensors (biases, norm weights, modulation
// tables) that are widened to Float32 once at load time.
func (l *Loader) GetF32(name string, shape ...int) *kernels.Tensor {
	t := l.Get(name, shape...)
	if t == nil {
		return nil
	}
	f, err := t.ToF32()
	if err != nil {
		l.addProblem(fmt.Sprintf("%s: %v", name, err))
		return nil
	}
	return f
}

// Optional is Get for a tensor that may be absent (returns nil silently).
func (l *Loader) Optional(name string, shape ...int) *kernels.Tensor {
	if _, ok := l.src.Info(name); !ok {
		return nil
	}
	return l.read(name, shape)
}

// Has reports whether the source holds a tensor.
func (l *Loader) Has(name string) bool {
	_, ok := l.src.Info(name)
	return ok
}

func (l *Loader) read(name string, shape []int) *kernels.Tensor {
	l.used[name] = true
	in, _ := l.src.Info(name)
	if len(shape) > 0 && !slices.Equal(in.Shape, shape) {
		l.addProblem(fmt.Sprintf("%s has shape %v, want %v", name, in.Shape, shape))
		return nil
	}
	if !in.DType.IsFloat() {
		l.addProblem(fmt.Sprintf("%s has dtype %s, want F32, BF16 or F16", name, in.Raw))
		return nil
	}
	t, err := l.src.Tensor(name)
	if err != nil {
		l.addProblem(err.Error())
		return nil
	}
	return t
}

// Err returns nil when every Get succeeded, otherwise one error listing
// every missing tensor and every other problem.
func (l *Loader) Err() error {
	if l.nMissing == 0 && l.nProblems == 0 {
		return nil
	}
	var parts []string
	if len(l.missing) > 0 {
		sort.Strings(l.missing)
		parts = append(parts, fmt.Sprintf("%d missing tensors: %s%s", l.nMissing, strings.Join(l.missing, ", "), more(l.nMissing, len(l.missing))))
	}
	parts = append(parts, l.problems...)
	if m := more(l.nProblems, len(l.problems)); m != "" {
		parts = append(parts, m[2:])
	}
	return fmt.Errorf("weights %s: %s", l.origin, strings.Join(parts, "; "))
}

func more(n, listed int) string {
	if n == listed {
		return ""
	}
	return fmt.Sprintf(", and %d more", n-listed)
}

// Unused lists tensors in the source that no Get/Optional asked for (a
// sign of a config that does not match the weights).
func (l *Loader) Unused(all []string) []string {
	var out []string
	for _, n := range all {
		if !l.used[n] {
			out = append(out, n)
		}
	}
	return out
}
