//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// cuBLASLt runs the tensor-core GEMMs that have a bias with the bias
// fused as an epilogue (CUBLASLT_EPILOGUE_BIAS): the output is written
// once instead of written, then read and written again by add_bias_rows —
// 8 bytes per output element less traffic, on attn1's and attn2's output
// projections and attn2's query (docs/performance.md). It is loaded beside
// cuBLAS (the same package ships both) and is optional: when it cannot be
// loaded, a shape has no algorithm, or a call fails, the GEMM runs as
// before (GemmEx + add_bias_rows), so results stay within the conformance
// tolerance either way. SANAFARM_CUBLASLT=0 turns it off.

// cuBLASLt enum values (cublasLt.h; stable across 11.x–13.x).
const (
	ltDescTransA       = 3
	ltDescTransB       = 4
	ltDescEpilogue     = 7
	ltDescBiasPointer  = 8
	ltDescBiasDataType = 26
	ltEpilogueBias     = 4
	ltPrefMaxWorkspace = 1
)

// ltHeuristic mirrors cublasLtMatmulHeuristicResult_t (96 bytes).
type ltHeuristic struct {
	algo      [8]uint64
	workspace uint64
	state     int32
	waves     float32
	reserved  [4]int32
}

// ltKey identifies a GEMM shape and types; ltPlan is what it needs.
type ltKey struct {
	m, n, k, lda, ldb, ldc int
	at, ct                 int32
}

type ltPlan struct {
	desc, a, b, c uintptr
	algo          ltHeuristic
	ok            bool // an algorithm exists; false: use GemmEx
}

type cublasLt struct {
	handle    uintptr
	workspace uintptr
	wsBytes   uint64
	plans     map[ltKey]*ltPlan
	off       bool // disabled after a failed call

	create        func(handle *uintptr) int32
	destroy       func(handle uintptr) int32
	descCreate    func(desc *uintptr, compute, scale int32) int32
	descSet       func(desc uintptr, attr int32, buf unsafe.Pointer, size uint64) int32
	descDestroy   func(desc uintptr) int32
	layoutCreate  func(layout *uintptr, dtype int32, rows, cols uint64, ld int64) int32
	layoutDestroy func(layout uintptr) int32
	prefCreate    func(pref *uintptr) int32
	prefSet       func(pref uintptr, attr int32, buf unsafe.Pointer, size uint64) int32
	prefDestroy   func(pref uintptr) int32
	heuristic     func(h, desc, a, b, c, d, pref uintptr, requested int32, results unsafe.Pointer, returned *int32) int32
	matmul        func(h, desc uintptr, alpha unsafe.Pointer, a, adesc, b, bdesc uintptr, beta unsafe.Pointer,
		c, cdesc, d, ddesc uintptr, algo unsafe.Pointer, ws uintptr, wsBytes uint64, stream uintptr) int32
}

// openCublasLt loads libcublasLt next to the cuBLAS at blasPath and
// creates a handle; nil when it is unavailable (the caller logs why).
func openCublasLt(blasPath string, workspace uintptr, wsBytes uint64) (*cublasLt, error) {
	if os.Getenv("SANAFARM_CUBLASLT") == "0" {
		return nil, errors.New("off (SANAFARM_CUBLASLT=0)")
	}
	dir, base := filepath.Split(blasPath)
	name := strings.Replace(base, "libcublas.", "libcublasLt.", 1)
	lib, err := purego.Dlopen(filepath.Join(dir, name), purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil && dir != "" {
		lib, err = purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	lt := &cublasLt{workspace: workspace, wsBytes: wsBytes, plans: map[ltKey]*ltPlan{}}
	err = errors.Join(
		bind(lib, &lt.create, "cublasLtCreate"), bind(lib, &lt.destroy, "cublasLtDestroy"),
		bind(lib, &lt.descCreate, "cublasLtMatmulDescCreate"), bind(lib, &lt.descSet, "cublasLtMatmulDescSetAttribute"),
		bind(lib, &lt.descDestroy, "cublasLtMatmulDescDestroy"),
		bind(lib, &lt.layoutCreate, "cublasLtMatrixLayoutCreate"), bind(lib, &lt.layoutDestroy, "cublasLtMatrixLayoutDestroy"),
		bind(lib, &lt.prefCreate, "cublasLtMatmulPreferenceCreate"), bind(lib, &lt.prefSet, "cublasLtMatmulPreferenceSetAttribute"),
		bind(lib, &lt.prefDestroy, "cublasLtMatmulPreferenceDestroy"),
		bind(lib, &lt.heuristic, "cublasLtMatmulAlgoGetHeuristic"), bind(lib, &lt.matmul, "cublasLtMatmul"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := cublasCheck("cublasLtCreate", lt.create(&lt.handle)); err != nil {
		return nil, err
	}
	return lt, nil
}

// gemmBias runs g (one GemmEx-shaped GEMM, β = 0) plus the float32 bias
// at bias, fused. fused is false when cuBLASLt cannot take it; the caller
// then runs GemmEx and adds the bias itself. The caller holds the cuBLAS
// mutex and is inside with.
func (lt *cublasLt) gemmBias(g gemmArgs, bias, stream uintptr) (fused bool, err error) {
	if lt == nil || lt.off || g.batch != 0 || g.beta != 0 || g.at != g.bt {
		return false, nil
	}
	p, err := lt.plan(g)
	if err != nil || !p.ok {
		return false, nil
	}
	if err := cublasCheck("cublasLtMatmulDescSetAttribute(bias)",
		lt.descSet(p.desc, ltDescBiasPointer, unsafe.Pointer(&bias), 8)); err != nil {
		lt.off = true
		return false, nil
	}
	alpha, beta := g.alpha, float32(0)
	st := lt.matmul(lt.handle, p.desc, unsafe.Pointer(&alpha), g.a, p.a, g.b, p.b,
		unsafe.Pointer(&beta), g.c, p.c, g.c, p.c, unsafe.Pointer(&p.algo.algo), lt.workspace, lt.wsBytes, stream)
	if st != 0 {
		lt.off = true // nothing was enqueued: fall back for good
		return false, nil
	}
	return true, nil
}

// plan returns the cached descriptors and algorithm of g's shape.
func (lt *cublasLt) plan(g gemmArgs) (*ltPlan, error) {
	key := ltKey{g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.at, g.ct}
	if p := lt.plans[key]; p != nil {
		return p, nil
	}
	p := &ltPlan{}
	lt.plans[key] = p
	ta, tb, epi, f32 := opOf(g.transA), opOf(g.transB), uint32(ltEpilogueBias), int32(cudaR32F)
	rowsA, colsA := g.k, g.m
	if !g.transA {
		rowsA, colsA = g.m, g.k
	}
	rowsB, colsB := g.n, g.k
	if !g.transB {
		rowsB, colsB = g.k, g.n
	}
	err := errors.Join(
		cublasCheck("cublasLtMatmulDescCreate", lt.descCreate(&p.desc, cublasCompute32F, cudaR32F)),
		cublasCheck("transA", lt.descSet(p.desc, ltDescTransA, unsafe.Pointer(&ta), 4)),
		cublasCheck("transB", lt.descSet(p.desc, ltDescTransB, unsafe.Pointer(&tb), 4)),
		cublasCheck("epilogue", lt.descSet(p.desc, ltDescEpilogue, unsafe.Pointer(&epi), 4)),
		cublasCheck("bias type", lt.descSet(p.desc, ltDescBiasDataType, unsafe.Pointer(&f32), 4)),
		cublasCheck("layout A", lt.layoutCreate(&p.a, g.at, uint64(rowsA), uint64(colsA), int64(g.lda))),
		cublasCheck("layout B", lt.layoutCreate(&p.b, g.bt, uint64(rowsB), uint64(colsB), int64(g.ldb))),
		cublasCheck("layout C", lt.layoutCreate(&p.c, g.ct, uint64(g.m), uint64(g.n), int64(g.ldc))))
	if err != nil {
		return p, err
	}
	var pref uintptr
	if err := cublasCheck("preference", lt.prefCreate(&pref)); err != nil {
		return p, err
	}
	defer lt.prefDestroy(pref)
	ws := lt.wsBytes
	if err := cublasCheck("preference workspace", lt.prefSet(pref, ltPrefMaxWorkspace, unsafe.Pointer(&ws), 8)); err != nil {
		return p, err
	}
	var n int32
	st := lt.heuristic(lt.handle, p.desc, p.a, p.b, p.c, p.c, pref, 1, unsafe.Pointer(&p.algo), &n)
	p.ok = st == 0 && n > 0 && p.algo.state == 0
	return p, nil
}

// close frees the plans and the handle; the caller is inside with.
func (lt *cublasLt) close() {
	if lt == nil {
		return
	}
	for _, p := range lt.plans {
		for _, l := range []uintptr{p.a, p.b, p.c} {
			if l != 0 {
				lt.layoutDestroy(l)
			}
		}
		if p.desc != 0 {
			lt.descDestroy(p.desc)
		}
	}
	lt.plans = nil
	if lt.handle != 0 {
		lt.destroy(lt.handle)
		lt.handle = 0
	}
}
