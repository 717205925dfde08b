package coordinator

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

type errFuture struct{ err error }

func (f errFuture) Error() error { return f.err }

// TestWaitFutureNotLeader: every raft error that means "this server can no
// longer commit, another leader will" reaches callers as ErrNotLeader (the
// API's not_leader, which nodes and clients retry elsewhere); other errors
// pass through.
func TestWaitFutureNotLeader(t *testing.T) {
	other := errors.New("disk full")
	for _, c := range []struct {
		err       error
		notLeader bool
	}{
		{raft.ErrNotLeader, true},
		{raft.ErrLeadershipLost, true},
		{raft.ErrLeadershipTransferInProgress, true},
		{raft.ErrRaftShutdown, true},
		{other, false},
		{nil, false},
	} {
		got := waitFuture(context.Background(), errFuture{c.err})
		if errors.Is(got, ErrNotLeader) != c.notLeader {
			t.Errorf("%v: got %v, not-leader %v", c.err, got, c.notLeader)
		}
		if c.err != nil && !errors.Is(got, c.err) {
			t.Errorf("%v: the cause is lost: %v", c.err, got)
		}
	}
}
