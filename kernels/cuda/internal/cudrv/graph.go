//go:build cuda

package cudrv

/*
#include <cuda.h>
#include <stdint.h>

// Relaxed mode: the capturing goroutine's driver calls may hop OS threads
// between its ops (kernels/cuda/graph.go locks it to one anyway), and the
// caching allocator may cuMemAlloc a new block in the middle of a capture,
// which the global mode forbids as "potentially unsafe".
static CUresult sf_begin_capture(uintptr_t stream) {
	return cuStreamBeginCapture((CUstream)stream, CU_STREAM_CAPTURE_MODE_RELAXED);
}

static CUresult sf_end_capture(uintptr_t stream, uintptr_t *graph) {
	CUgraph g = NULL;
	CUresult r = cuStreamEndCapture((CUstream)stream, &g);
	*graph = (uintptr_t)g;
	return r;
}

static CUresult sf_graph_nodes(uintptr_t graph, size_t *n) {
	return cuGraphGetNodes((CUgraph)graph, NULL, n);
}

static CUresult sf_instantiate(uintptr_t graph, uintptr_t *exec) {
	CUgraphExec e = NULL;
	CUresult r = cuGraphInstantiateWithFlags(&e, (CUgraph)graph, 0);
	*exec = (uintptr_t)e;
	return r;
}

static CUresult sf_graph_destroy(uintptr_t graph) { return cuGraphDestroy((CUgraph)graph); }
static CUresult sf_exec_destroy(uintptr_t exec) { return cuGraphExecDestroy((CUgraphExec)exec); }
static CUresult sf_graph_launch(uintptr_t exec, uintptr_t stream) {
	return cuGraphLaunch((CUgraphExec)exec, (CUstream)stream);
}
*/
import "C"

// BeginCapture starts recording the work enqueued on stream into a graph
// (relaxed capture mode) instead of running it.
func BeginCapture(stream uintptr) error {
	return check(C.sf_begin_capture(C.uintptr_t(stream)))
}

// EndCapture stops the capture on stream and returns the recorded graph.
// When the capture was invalidated (an op that cannot be captured, such as
// a synchronizing copy) it returns the driver's error and, possibly, a
// graph to destroy all the same.
func EndCapture(stream uintptr) (graph uintptr, err error) {
	var g C.uintptr_t
	err = check(C.sf_end_capture(C.uintptr_t(stream), &g))
	return uintptr(g), err
}

// GraphNodes counts the nodes of a captured graph.
func GraphNodes(graph uintptr) (int, error) {
	var n C.size_t
	err := check(C.sf_graph_nodes(C.uintptr_t(graph), &n))
	return int(n), err
}

// Instantiate turns a graph into an executable graph.
func Instantiate(graph uintptr) (exec uintptr, err error) {
	var e C.uintptr_t
	err = check(C.sf_instantiate(C.uintptr_t(graph), &e))
	return uintptr(e), err
}

// GraphDestroy frees a graph (its executable graphs live on).
func GraphDestroy(graph uintptr) error { return check(C.sf_graph_destroy(C.uintptr_t(graph))) }

// ExecDestroy frees an executable graph; a launch still in flight
// completes first.
func ExecDestroy(exec uintptr) error { return check(C.sf_exec_destroy(C.uintptr_t(exec))) }

// GraphLaunch enqueues one replay of exec on stream.
func GraphLaunch(exec, stream uintptr) error {
	return check(C.sf_graph_launch(C.uintptr_t(exec), C.uintptr_t(stream)))
}
