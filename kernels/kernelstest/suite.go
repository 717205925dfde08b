// Package kernelstest is the conformance suite every kernels.Backend must
// pass. It computes float64 references with plain loops straight from the
// op docs in kernels/backend.go, moves all data through the backend (Alloc,
// Copy in, op, Sync, Copy out), poisons outputs with NaN, covers odd shapes
// and every weight dtype, tests in-place aliasing where the docs allow it,
// and checks that bad arguments return an error naming the op instead of
// panicking.
//
// Hook a backend up with
//
//	func TestConformance(t *testing.T) {
//		kernelstest.Run(t, func(t *testing.T) kernels.Backend { return mybackend.New() })
//	}
//
// Random inputs are seeded from each case's full test name, so a failure
// reproduces with go test -run on that name; messages also print the seed.
package kernelstest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// Op is one kernels.Backend method and the test of it.
type Op struct {
	Name string // the method name in kernels.Backend
	Test func(t *testing.T, be kernels.Backend)
}

// Ops lists every kernels.Backend method covered by the suite, in the
// interface's order. Run fails when the interface has a method missing here.
var Ops = []Op{
	{"Name", testName},
	{"Alloc", testAlloc},
	{"Copy", testCopy},
	{"Sync", testSync},
	{"MatMul", testMatMul},
	{"BatchMatMul", testBatchMatMul},
	{"Conv2D", testConv2D},
	{"LayerNorm", testLayerNorm},
	{"LayerNormModulate", testLayerNormModulate},
	{"RMSNorm", testRMSNorm},
	{"Activate", testActivate},
	{"GLU", testGLU},
	{"MixFFNConv", testMixFFNConv},
	{"Softmax", testSoftmax},
	{"Attention", testAttention},
	{"LinearAttention", testLinearAttention},
	{"RoPE", testRoPE},
	{"Embedding", testEmbedding},
	{"TimestepEmbedding", testTimestepEmbedding},
	{"Add", testAdd},
	{"Mul", testMul},
	{"Axpby", testAxpby},
	{"Modulate", testModulate},
	{"GatedAdd", testGatedAdd},
	{"PixelShuffle", testPixelShuffle},
	{"PixelUnshuffle", testPixelUnshuffle},
	{"UpsampleNearest2x", testUpsampleNearest2x},
	{"RepeatChannels", testRepeatChannels},
	{"Concat", testConcat},
	{"Split", testSplit},
	{"Transpose", testTranspose},
	{"Reduce", testReduce},
}

// Run runs the whole suite; newBackend is called once per op.
func Run(t *testing.T, newBackend func(t *testing.T) kernels.Backend) {
	t.Run("Coverage", testCoverage)
	for _, op := range Ops {
		t.Run(op.Name, func(t *testing.T) {
			be := newBackend(t)
			if be == nil {
				t.Fatal("newBackend returned nil")
			}
			op.Test(t, be)
		})
	}
}

// testCoverage checks that Ops names exactly the methods of
// kernels.Backend, so a new op cannot be added without a test.
func testCoverage(t *testing.T) {
	it := reflect.TypeFor[kernels.Backend]()
	var names []string
	for i := range it.NumMethod() {
		names = append(names, it.Method(i).Name)
	}
	seen := map[string]bool{}
	for _, op := range Ops {
		if seen[op.Name] {
			t.Errorf("Ops lists %s twice", op.Name)
		}
		seen[op.Name] = true
		if !slices.Contains(names, op.Name) {
			t.Errorf("Ops lists %s, which is not a kernels.Backend method", op.Name)
		}
		if op.Test == nil {
			t.Errorf("Ops entry %s has no test", op.Name)
		}
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("kernels.Backend method %s has no conformance test in kernelstest.Ops", n)
		}
	}
}
