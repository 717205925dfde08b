package node

import (
	"time"

	"github.com/sanafarm/sanafarm/internal/backoff"
)

// newBackoff is the node's retry schedule (lease polling, reports, etcd
// re-registration): doubling from base up to maxWait, ±25 % jitter so that
// many nodes that lost the leader together do not retry in step.
func newBackoff(base, maxWait time.Duration) *backoff.Backoff {
	return backoff.Policy{Base: base, Max: max(maxWait, base), Jitter: 0.25}.New()
}
