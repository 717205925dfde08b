package golden

import (
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/model/rng"
	"github.com/sanafarm/sanafarm/model/weights"
)

// TolRandn: float32 draws must be bit-exact (any difference is ≥ 1e-8);
// float64 draws may differ by an ulp or two where glibc's log/sin/cos are
// not correctly rounded (see model/rng).
const TolRandn = 1e-12

// reRandn matches torch_randn output names: seed<S>_<d0>x<d1>..[_f64].
var reRandn = regexp.MustCompile(`^seed(\d+)_(\d+(?:x\d+)*)(_f64)?$`)

// isRandnCase reports whether a folder holds only torch_randn outputs.
func isRandnCase(fsys fs.FS) bool {
	if !exists(fsys, "outputs.safetensors") || exists(fsys, "inputs.safetensors") {
		return false
	}
	f, err := weights.Open(fsys, "outputs.safetensors")
	if err != nil {
		return false
	}
	defer f.Close()
	names := f.Header.Names()
	for _, n := range names {
		if !reRandn.MatchString(n) {
			return false
		}
	}
	return len(names) > 0
}

// runRandn redraws every seed<S>_<shape> tensor with our torch-compatible
// generator (one fresh generator per tensor, as the reference did).
func (r *Runner) runRandn(fsys fs.FS, name string) []Result {
	f, err := weights.Open(fsys, "outputs.safetensors")
	if err != nil {
		return []Result{{Case: name, Err: err}}
	}
	defer f.Close()
	worst := 0.0
	for _, n := range f.Header.Names() {
		d, err := randnDiff(f, n)
		if err != nil {
			return []Result{{Case: name, Err: err}}
		}
		worst = math.Max(worst, d)
	}
	return []Result{{Case: name, MaxAbs: worst, Tol: r.tol(TolRandn)}}
}

func randnDiff(f *weights.File, name string) (float64, error) {
	m := reRandn.FindStringSubmatch(name)
	seed, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: seed: %w", name, err)
	}
	n := 1
	for _, d := range strings.Split(m[2], "x") {
		v, err := strconv.Atoi(d)
		if err != nil || v <= 0 || n > 1<<28/v {
			return 0, fmt.Errorf("%s: bad shape %q", name, m[2])
		}
		n *= v
	}
	want, _, err := f.Float64s(name)
	if err != nil {
		return 0, err
	}
	if len(want) != n {
		return 0, fmt.Errorf("%s: %d values for shape %s", name, len(want), m[2])
	}
	g := rng.NewTorch(seed)
	got := make([]float64, n)
	if m[3] != "" {
		copy(got, g.RandnF64(n))
	} else {
		for i, v := range g.Randn(n) {
			got[i] = float64(v)
		}
	}
	worst := 0.0
	for i, w := range want {
		worst = math.Max(worst, math.Abs(got[i]-w))
	}
	return worst, nil
}
