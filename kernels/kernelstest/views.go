package kernelstest

import (
	"fmt"
	"math"
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
)

// matmulViews runs MatMul on leading-dimension views (Slice) of larger
// backend tensors: the rows of dst outside the view must stay NaN, and
// the op must read a's rows at the view's offset.
func matmulViews(c *tc) {
	c.Helper()
	const rows, k, n = 7, 19, 11
	ah := c.randHost(rows, k)
	wh, wv := c.weight(kernels.Float32, n, k)
	a, w, dst := c.up(ah), c.up(wh), c.nan(rows, n)
	av, err := a.Slice(2, 5)
	if err != nil {
		c.Fatal(err)
	}
	dv, err := dst.Slice(3, 6)
	if err != nil {
		c.Fatal(err)
	}
	c.call("MatMul", func() error { return c.be.MatMul(dv, av, w, nil) })
	got := c.downF32(dst)
	x := values(ah)
	for r := range rows {
		for j := range n {
			g := got[r*n+j]
			if r < 3 || r >= 6 {
				if !math.IsNaN(float64(g)) {
					c.Errorf("MatMul on a view wrote dst row %d outside the view (got %v)", r, g)
				}
				continue
			}
			want, scale := 0.0, 0.0
			for i := range k {
				p := x[(r-1)*k+i] * wv[j*k+i]
				want += p
				scale += math.Abs(p)
			}
			if d := math.Abs(float64(g) - want); !(d <= dotATol+c.dotRTol()*scale) {
				c.Errorf("MatMul on views: dst[%d, %d] = %v, want %v", r, j, g, want)
			}
		}
	}
}

// matmulConcurrent runs independent MatMuls from several goroutines at
// once ("ops may run concurrently on different tensors") and checks each.
func matmulConcurrent(c *tc) {
	c.Helper()
	const workers, m, k, n = 4, 9, 33, 17
	type job struct {
		a, w, dst *kernels.Tensor
		want, tol []float64
	}
	jobs := make([]job, workers)
	for i := range jobs {
		ah := c.randHost(m, k)
		wh, wv := c.weight(kernels.Float32, n, k)
		av := values(ah)
		want, scale := make([]float64, m*n), make([]float64, m*n)
		for r := range m {
			for j := range n {
				for q := range k {
					want[r*n+j] += av[r*k+q] * wv[j*k+q]
					scale[r*n+j] += math.Abs(av[r*k+q] * wv[j*k+q])
				}
			}
		}
		// float32 mode keeps its tolerance relative to |want|; bf16 mode's
		// rounding errors scale with Σ|terms| (bf16.go).
		tol := tols(want, nil, 1e-5, 1e-5)
		if c.prec == kernels.PrecisionBF16 {
			tol = tols(want, scale, 1e-5, c.dotRTol())
		}
		jobs[i] = job{c.up(ah), c.up(wh), c.nan(m, n), want, tol}
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() {
			for range 5 {
				p, err := safeCall(func() error { return c.be.MatMul(jobs[i].dst, jobs[i].a, jobs[i].w, nil) })
				if p != nil {
					err = fmt.Errorf("panic: %v", p)
				}
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, j := range jobs {
		if errs[i] != nil {
			c.Fatalf("concurrent MatMul %d: %v", i, errs[i])
		}
		c.expect(label("concurrent MatMul %d", i), []int{m, n}, c.downF32(j.dst), j.want, j.tol)
	}
}
