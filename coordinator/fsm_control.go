package coordinator

import (
	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// The FSM's job and node control commands (protocol/control.go). An
// older server does not know them and skips them: they are sent with
// protocol.IgnoreUnknown (see protocol.CmdJobPause).

type (
	jobPause    protocol.JobPause
	jobRetry    protocol.JobRetry
	jobPriority protocol.JobPriority
	jobDelete   protocol.JobDelete
	nodeDrain   protocol.NodeDrain
)

// controlCommand returns an empty control command of type t (nil: not
// one).
func controlCommand(t protocol.CommandType) command {
	switch t {
	case protocol.CmdJobPause:
		return &jobPause{}
	case protocol.CmdJobRetry:
		return &jobRetry{}
	case protocol.CmdJobPriority:
		return &jobPriority{}
	case protocol.CmdJobDelete:
		return &jobDelete{}
	case protocol.CmdNodeDrain:
		return &nodeDrain{}
	}
	return nil
}

func (c *jobPause) apply(st *state.Store, index uint64) any {
	return errOrNil(st.PauseJob(index, protocol.JobPause(*c)))
}

func (c *jobRetry) apply(st *state.Store, index uint64) any {
	return errOrNil(st.RetryJob(index, protocol.JobRetry(*c)))
}

func (c *jobPriority) apply(st *state.Store, index uint64) any {
	return errOrNil(st.SetPriority(index, protocol.JobPriority(*c)))
}

// apply answers the refusal of a single delete (rm), else the ids deleted.
func (c *jobDelete) apply(st *state.Store, index uint64) any {
	deleted, err := st.DeleteJobs(index, protocol.JobDelete(*c))
	if err != nil && len(deleted) == 0 {
		return err
	}
	return deleted
}

func (c *nodeDrain) apply(st *state.Store, index uint64) any {
	return errOrNil(st.DrainNode(index, protocol.NodeDrain(*c)))
}
