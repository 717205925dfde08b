package kernels

// Graph is backend work recorded once and replayed on the same memory
// (a CUDA graph: kernels/cuda/graph.go). A backend that can record offers
//
//	CaptureGraph(fn func() error) (Graph, error)
//
// which records the work fn enqueues instead of running it; consumers
// declare that interface where they use it (model/dit/step.go).
type Graph interface {
	// Replay enqueues the recorded work again. It reads and writes the
	// tensors the capture used, so the caller refreshes the inputs in
	// place first and reads the outputs after.
	Replay() error
	// Close frees the graph and the memory only it held.
	Close() error
}
