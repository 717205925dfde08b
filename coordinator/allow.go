package coordinator

import (
	"errors"

	"github.com/sanafarm/sanafarm/protocol"
)

// checkAllowed refuses a job whose prompt file, output or model inputs
// (LoRAs, init and control images, ControlNet, NVlabs files: every URL
// protocol.JobSpec.ModelFiles names; per-row images are checked by the
// nodes) lie outside Config.Allow, with a bad_request naming the field,
// before anything is
// committed: the nodes check again where they open the files, but a
// refused job should fail at submit rather than on every node, and the
// leader itself writes each job's manifest into its output location.
// Symlinks are resolved here too, since the manifest is written through
// them. A nil Allow checks nothing (library use and tests; `sanafarm
// coordinator` always sets one).
func (s *Server) checkAllowed(spec protocol.JobSpec) error {
	if s.cfg.Allow == nil {
		return nil
	}
	a := *s.cfg.Allow
	a.Read, a.Write = a.Read.ResolvingSymlinks(), a.Write.ResolvingSymlinks()
	if a.Who == "" {
		a.Who = "coordinator"
	}
	err := a.WithUploadedInput(spec.Prompts.URL).CheckSpec(spec) // submit's uploads: under the write roots
	if v, ok := errors.AsType[protocol.ValidationError](err); ok {
		return v.AsError()
	}
	return err
}
