//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
	"gorgonia.org/cu"
)

// cuBLAS is loaded at run time with purego instead of linked: the GPU hosts
// carry CUDA 13 (often only inside pip wheels) while the build machines
// have CUDA 11.8, and cuBLAS' versioned symbols make one soname unusable
// with another library version. SANAFARM_CUBLAS names a library file
// explicitly; otherwise cublasSearch lists where we look.

// cuBLAS and CUDA data-type constants (cublas_api.h, library_types.h).
const (
	cublasOpN = 0
	cublasOpT = 1

	cublasDefaultMath = 0
	cublasTF32Math    = 3

	cudaR32F  = 0
	cudaR16F  = 2
	cudaR16BF = 14

	cublasCompute32F = 68

	cublasGemmDefault = -1
)

// cublasSonames are tried newest first.
var cublasSonames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}

// cublasDirs returns the directories searched after the dynamic loader's
// own path: the toolkit locations and NVIDIA's pip wheel directories.
func cublasDirs() []string {
	dirs := []string{"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"}
	for _, pat := range []string{
		"/opt/*/.venv/lib/python3*/site-packages/nvidia/cu1*/lib",
		"/opt/*/.venv/lib/python3*/site-packages/nvidia/cublas/lib",
		"/usr/local/lib/python3*/dist-packages/nvidia/cu*/lib",
		"/usr/local/lib/python3*/dist-packages/nvidia/cublas/lib",
		"/usr/local/lib/python3*/site-packages/nvidia/cu*/lib",
		"/usr/local/cuda-*/targets/x86_64-linux/lib",
	} {
		m, _ := filepath.Glob(pat)
		dirs = append(dirs, m...)
	}
	return dirs
}

// cublasStatus is a cublasStatus_t other than CUBLAS_STATUS_SUCCESS.
type cublasStatus int32

func (s cublasStatus) Error() string {
	names := map[cublasStatus]string{1: "NOT_INITIALIZED", 3: "ALLOC_FAILED", 7: "INVALID_VALUE",
		8: "ARCH_MISMATCH", 11: "MAPPING_ERROR", 13: "EXECUTION_FAILED", 14: "INTERNAL_ERROR",
		15: "NOT_SUPPORTED", 16: "LICENSE_ERROR"}
	if n, ok := names[s]; ok {
		return "CUBLAS_STATUS_" + n
	}
	return fmt.Sprintf("cublas status %d", int32(s))
}

func cublasCheck(op string, st int32) error {
	if st == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", op, cublasStatus(st))
}

// cublas is one loaded library and handle bound to the backend's stream.
// A cuBLAS handle must not be used by two threads at once, so calls hold
// mu.
type cublas struct {
	path   string
	prof   *profiler // the backend's (nil: no profiling)
	stream cu.Stream
	sh     uintptr // stream's raw handle
	mu     sync.Mutex
	handle uintptr

	create      func(handle unsafe.Pointer) int32
	destroyFn   func(handle uintptr) int32
	setStream   func(handle, stream uintptr) int32
	setMathMode func(handle uintptr, mode int32) int32
	// setWorkspace is optional (cuBLAS ≥ 11.4 has it); workspace is the
	// block given to it, held for the handle's life.
	setWorkspace func(handle, ptr uintptr, bytes uint64) int32
	workspace    *allocation
	lt           *cublasLt // bias-fused GEMMs (cublaslt.go); nil: unavailable
	gemmEx       func(h uintptr, ta, tb, m, n, k int32, alpha unsafe.Pointer, a uintptr, at, lda int32,
		b uintptr, bt, ldb int32, beta unsafe.Pointer, c uintptr, ct, ldc, compute, algo int32) int32
	gemmStridedBatchedEx func(h uintptr, ta, tb, m, n, k int32, alpha unsafe.Pointer,
		a uintptr, at, lda int32, sa int64, b uintptr, bt, ldb int32, sb int64,
		beta unsafe.Pointer, c uintptr, ct, ldc int32, sc int64, batch, compute, algo int32) int32
}

// openCublas finds and opens the newest cuBLAS it can.
func openCublas() (uintptr, string, error) {
	var tried []string
	if p := os.Getenv("SANAFARM_CUBLAS"); p != "" {
		lib, err := dlopenWithLt(p)
		if err == nil {
			return lib, p, nil
		}
		tried = append(tried, fmt.Sprintf("%s (SANAFARM_CUBLAS): %v", p, err))
	}
	for _, so := range cublasSonames {
		lib, err := purego.Dlopen(so, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return lib, so, nil
		}
		tried = append(tried, so+" (loader path)")
	}
	for _, dir := range cublasDirs() {
		for _, so := range cublasSonames {
			p := filepath.Join(dir, so)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			lib, err := dlopenWithLt(p)
			if err == nil {
				return lib, p, nil
			}
			tried = append(tried, fmt.Sprintf("%s: %v", p, err))
		}
	}
	return 0, "", fmt.Errorf("cuda: cuBLAS not found (set SANAFARM_CUBLAS=/path/to/libcublas.so.N); tried %s and directories %s",
		strings.Join(tried, "; "), strings.Join(cublasDirs(), ", "))
}

// dlopenWithLt opens libcublas at path after its sibling libcublasLt, which
// it needs and which the loader may not find on its own (pip wheels).
func dlopenWithLt(path string) (uintptr, error) {
	dir, base := filepath.Split(path)
	lt := filepath.Join(dir, strings.Replace(base, "libcublas.", "libcublasLt.", 1))
	if lt != path {
		if _, err := os.Stat(lt); err == nil {
			if _, err := purego.Dlopen(lt, purego.RTLD_NOW|purego.RTLD_GLOBAL); err != nil {
				return 0, fmt.Errorf("opening %s: %w", lt, err)
			}
		}
	}
	return purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
}

// bind resolves fn from the first of names the library exports.
func bind(lib uintptr, fn any, names ...string) error {
	for _, n := range names {
		if sym, err := purego.Dlsym(lib, n); err == nil && sym != 0 {
			purego.RegisterFunc(fn, sym)
			return nil
		}
	}
	return fmt.Errorf("symbol %s not found", strings.Join(names, " or "))
}

// newCublas loads cuBLAS, creates a handle on the backend's stream and sets
// the math mode; the caller is inside with.
func (b *Backend) newCublas() (*cublas, error) {
	lib, path, err := openCublas()
	if err != nil {
		return nil, err
	}
	c := &cublas{path: path, prof: b.prof, stream: b.stream, sh: b.streamHandle()}
	err = errors.Join(
		bind(lib, &c.create, "cublasCreate_v2", "cublasCreate"),
		bind(lib, &c.destroyFn, "cublasDestroy_v2", "cublasDestroy"),
		bind(lib, &c.setStream, "cublasSetStream_v2", "cublasSetStream"),
		bind(lib, &c.setMathMode, "cublasSetMathMode"),
		bind(lib, &c.gemmEx, "cublasGemmEx"),
		bind(lib, &c.gemmStridedBatchedEx, "cublasGemmStridedBatchedEx"),
	)
	if err != nil {
		return nil, fmt.Errorf("cuda: cuBLAS at %s: %w", path, err)
	}
	if err := cublasCheck("cublasCreate", c.create(unsafe.Pointer(&c.handle))); err != nil {
		return nil, fmt.Errorf("cuda: cuBLAS at %s: %w", path, err)
	}
	mode := int32(cublasDefaultMath)
	if b.cfg.FastMath {
		mode = cublasTF32Math
	}
	err = errors.Join(
		cublasCheck("cublasSetStream", c.setStream(c.handle, b.streamHandle())),
		cublasCheck("cublasSetMathMode", c.setMathMode(c.handle, mode)))
	if err != nil {
		_ = c.destroy()
		return nil, fmt.Errorf("cuda: cuBLAS at %s: %w", path, err)
	}
	if err := c.ownWorkspace(b, lib); err != nil {
		_ = c.destroy()
		return nil, fmt.Errorf("cuda: cuBLAS at %s: %w", path, err)
	}
	c.openLt(b)
	b.log.Info("cuda: cuBLAS loaded", "path", path, "fast_math", b.cfg.FastMath, "workspace", c.workspace != nil, "cublaslt", c.lt != nil)
	return c, nil
}

// openLt loads cuBLASLt for the bias-fused GEMMs of the tensor-core mode,
// sharing cuBLAS' workspace (both run on the one stream); without it those
// GEMMs add their bias in a second pass. The caller is inside with.
func (c *cublas) openLt(b *Backend) {
	if !b.cfg.FastMath {
		return
	}
	ws := c.workspace
	if ws == nil {
		var err error
		if ws, err = b.mem.get(cublasWorkspace); err != nil {
			b.log.Info("cuda: cuBLASLt not used", "reason", err)
			return
		}
	}
	lt, err := openCublasLt(c.path, uintptr(ws.state.ptr), cublasWorkspace)
	if err != nil {
		b.log.Info("cuda: cuBLASLt not used", "reason", err)
		return
	}
	c.workspace, c.lt = ws, lt
}

// gemmBias runs g with the float32 bias at bias fused into it when
// cuBLASLt can (see cublaslt.go); fused false means nothing ran. The
// caller is inside with.
func (c *cublas) gemmBias(g gemmArgs, bias uintptr) (fused bool, err error) {
	if c.lt == nil {
		return false, nil
	}
	for _, v := range []int{g.m, g.n, g.k, g.lda, g.ldb, g.ldc} {
		if v < 0 || v > 1<<31-1 {
			return false, nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prof != nil {
		err = c.prof.around(c.stream, gemmLabel(g)+"+bias", func() error {
			fused, err = c.lt.gemmBias(g, bias, c.sh)
			return err
		})
		return fused, err
	}
	return c.lt.gemmBias(g, bias, c.sh)
}

// cublasWorkspace is the GEMM workspace cuBLAS gets from our allocator
// (NVIDIA's recommendation for Hopper is 32 MiB).
const cublasWorkspace = 32 << 20

// ownWorkspace gives cuBLAS a workspace from the backend's allocator
// instead of its own default pool, so that GEMMs recorded into a CUDA graph
// (graph.go) use memory that lives as long as the handle and is the same
// on every replay. It must follow cublasSetStream, which resets the
// workspace to the default; a cuBLAS without cublasSetWorkspace keeps its
// default. The caller is inside with.
func (c *cublas) ownWorkspace(b *Backend, lib uintptr) error {
	if bind(lib, &c.setWorkspace, "cublasSetWorkspace_v2", "cublasSetWorkspace") != nil {
		return nil
	}
	al, err := b.mem.get(cublasWorkspace)
	if err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	if err := cublasCheck("cublasSetWorkspace", c.setWorkspace(c.handle, uintptr(al.state.ptr), cublasWorkspace)); err != nil {
		al.state.release()
		return err
	}
	c.workspace = al
	return nil
}

// blasHandle returns the backend's cuBLAS, loading it on first use.
func (b *Backend) blasHandle() (*cublas, error) {
	b.blasOnce.Do(func() {
		b.blasErr = b.with(func() error {
			var err error
			b.blas, err = b.newCublas()
			return err
		})
	})
	return b.blas, b.blasErr
}

// destroy releases the handle; the caller is inside with.
func (c *cublas) destroy() error {
	c.lt.close()
	c.lt = nil
	if c.handle == 0 {
		return nil
	}
	err := cublasCheck("cublasDestroy", c.destroyFn(c.handle))
	c.handle = 0
	return err
}

// gemmArgs describes one column-major cuBLAS GEMM C = α·op(A)·op(B) + β·C.
type gemmArgs struct {
	transA, transB   bool
	m, n, k          int
	a, b, c          uintptr
	lda, ldb, ldc    int
	at, bt, ct       int32 // cudaDataType
	alpha, beta      float32
	strideA, strideB int64 // batched only
	strideC          int64
	batch            int // 0: plain GemmEx
}

func opOf(t bool) int32 {
	if t {
		return cublasOpT
	}
	return cublasOpN
}

// gemm runs g with float32 compute on the backend's stream; the caller is
// inside with.
func (c *cublas) gemm(g gemmArgs) error {
	for _, v := range []int{g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch} {
		if v < 0 || v > 1<<31-1 {
			return fmt.Errorf("gemm size %d exceeds cuBLAS' 32-bit int", v)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prof != nil {
		return c.prof.around(c.stream, gemmLabel(g), func() error { return c.call(g) })
	}
	return c.call(g)
}

// call issues g; the caller holds c.mu.
func (c *cublas) call(g gemmArgs) error {
	alpha, beta := g.alpha, g.beta
	if g.batch == 0 {
		return cublasCheck("cublasGemmEx", c.gemmEx(c.handle, opOf(g.transA), opOf(g.transB),
			int32(g.m), int32(g.n), int32(g.k), unsafe.Pointer(&alpha), g.a, g.at, int32(g.lda),
			g.b, g.bt, int32(g.ldb), unsafe.Pointer(&beta), g.c, g.ct, int32(g.ldc),
			cublasCompute32F, cublasGemmDefault))
	}
	return cublasCheck("cublasGemmStridedBatchedEx", c.gemmStridedBatchedEx(c.handle, opOf(g.transA), opOf(g.transB),
		int32(g.m), int32(g.n), int32(g.k), unsafe.Pointer(&alpha), g.a, g.at, int32(g.lda), g.strideA,
		g.b, g.bt, int32(g.ldb), g.strideB, unsafe.Pointer(&beta), g.c, g.ct, int32(g.ldc), g.strideC,
		int32(g.batch), cublasCompute32F, cublasGemmDefault))
}
