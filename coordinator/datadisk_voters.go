package coordinator

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/raft"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/protocol"
)

// The leader's own disk is not the only one a submit needs: Raft commits
// an entry once a majority of voters have written it, so a job submitted
// while most followers' disks are nearly full would be stored by too few
// of them and stall every later commit. Every coordinator publishes its
// data disk's free space in etcd (protocol.DataDiskKey, bound to its
// registration lease: a stopped coordinator's reading goes with it), and
// the leader refuses a submit when fewer than a majority of the voters —
// itself counted by checkDataDisk — would keep MinDataFree once it is
// stored. A voter with no reading (etcd unreadable, not yet published, an
// older release) is counted as having room: the check guards against full
// disks, it must not become the reason nothing can be submitted.

// dataDiskEvery is how often a coordinator publishes its free space by
// default: disks fill over hours, and each reading is one small etcd
// write per coordinator.
const dataDiskEvery = 30 * time.Second

// voterDiskRecheck is how long the leader trusts its last reading of the
// voters' disks (a burst of submits costs one etcd read).
const voterDiskRecheck = 5 * time.Second

// voterDisks caches the leader's last reading of the DataDiskKeys.
type voterDisks struct {
	mu   sync.Mutex
	at   time.Time
	free map[string]int64 // coordinator id → free bytes published
}

// publishDataDisk puts this coordinator's free space under lease now and
// every dataDiskEvery until ka closes (the lease is lost) or ctx ends,
// draining ka meanwhile. A failed put (etcd refusing writes) keeps the
// lease: the last reading stands, and the next tick tries again.
func (s *Server) publishDataDisk(ctx context.Context, lease clientv3.LeaseID, ka <-chan *clientv3.LeaseKeepAliveResponse) {
	every := cmp.Or(s.cfg.dataDiskEvery, dataDiskEvery)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if free, err := s.dataFree(); err == nil {
			// Bounded well below the lease's TTL: ka is not drained meanwhile.
			pctx, cancel := context.WithTimeout(ctx, min(every, 3*time.Second))
			_, err = s.cfg.Etcd.Put(pctx, protocol.DataDiskKey(s.cfg.ID), strconv.FormatInt(max(free, 0), 10), clientv3.WithLease(lease))
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Debug("publishing the data disk's free space", "err", err)
			}
		}
		for wait := true; wait; {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-ka:
				if !ok {
					return
				}
			case <-t.C:
				wait = false
			}
		}
	}
}

// checkVoterDisks (leader) refuses a submit of need bytes when fewer than
// a majority of the voters would keep MinDataFree once it is stored,
// naming the voters short of room.
func (s *Server) checkVoterDisks(ctx context.Context, need int64) error {
	r := s.getRaft()
	if s.cfg.MinDataFree < 0 || s.cfg.Etcd == nil || r == nil {
		return nil
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var voters []string
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters = append(voters, string(srv.ID))
		}
	}
	if len(voters) < 2 {
		return nil // the leader alone: checkDataDisk
	}
	free := s.readVoterDisks(ctx)
	var short []string
	for _, id := range voters {
		if n, ok := free[id]; ok && id != s.cfg.ID && n-need < s.cfg.MinDataFree {
			short = append(short, fmt.Sprintf("%s (%s free)", id, humanize.IBytes(uint64(n))))
		}
	}
	if len(voters)-len(short) > len(voters)/2 {
		return nil
	}
	slices.Sort(short)
	return &protocol.Error{Code: protocol.CodeInsufficientStorage,
		Message: fmt.Sprintf("the data disks of voters %s would keep less than the %s each keeps for the Raft log "+
			"(--min-data-free) once this job (%s) is stored, leaving fewer than a majority of the %d voters to commit it: "+
			"free space on those disks or grow them; running jobs go on",
			strings.Join(short, ", "), humanize.IBytes(uint64(s.cfg.MinDataFree)), humanize.IBytes(uint64(max(need, 0))), len(voters)),
		Fields: []protocol.FieldError{{Field: "job", Value: strconv.FormatInt(need, 10) + " bytes",
			Problem: "most coordinators' data disks are nearly full"}}}
}

// readVoterDisks returns the published free space by coordinator id, read
// again when older than voterDiskRecheck; nil when etcd could not be read
// (cached too: /v1/health, which anyone may ask, reads it, and a hung etcd
// must cost it a second per voterDiskRecheck, not one per request).
func (s *Server) readVoterDisks(ctx context.Context) map[string]int64 {
	c, now := &s.voterDisks, s.cfg.Clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && now.Sub(c.at) < voterDiskRecheck && !now.Before(c.at) {
		return c.free
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := s.cfg.Etcd.Get(ctx, protocol.DataDiskPrefix, clientv3.WithPrefix(), clientv3.WithLimit(maxFeatureServers))
	c.at, c.free = now, nil
	if err != nil {
		s.log.Debug("reading the coordinators' data disk space", "err", err)
		return nil
	}
	c.free = make(map[string]int64, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		id, ok := strings.CutPrefix(string(kv.Key), protocol.DataDiskPrefix)
		if n, valid := protocol.ParseDataDisk(kv.Value); ok && valid {
			c.free[id] = n
		}
	}
	return c.free
}
