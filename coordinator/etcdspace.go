package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
)

// etcd keeps its data in one bbolt file under a quota (2 GiB unless
// quota-backend-bytes says otherwise). Compaction (etcd.yaml, docs/deploy.md
// §1) frees pages inside the file, but the file does not shrink until its
// member is defragmented, and once it reaches the quota etcd raises the
// NOSPACE alarm and refuses every write: no node can announce itself, no
// coordinator its NATS link, no password can change. Nothing fails outright
// (running nodes keep their leases), so every coordinator watches each etcd
// member's space and the cluster's alarms and says what it sees: /v1/health
// (etcd, etcd_members), the dashboard's cluster page, metrics
// sanafarm_etcd_db_bytes / _in_use_bytes / _quota_bytes and
// sanafarm_etcd_alarms, alerts SanafarmEtcdSpaceLow and SanafarmEtcdAlarm.
// Defragmenting and disarming need etcd's root user, which coordinators do
// not hold: docs/deploy.md §8 says how.

// etcdAlarmKinds are the alarms the metrics always export (0 when quiet).
var etcdAlarmKinds = []string{"NOSPACE", "CORRUPT"}

// etcdStatusTimeout bounds each etcd member's answer: the members are
// asked at once, so one that hangs costs the probe this, not the others'
// answers.
const etcdStatusTimeout = time.Second

// etcdSpace asks every endpoint of the client for its database size and
// quota, and the cluster for its alarms. An endpoint that does not answer
// is listed with its error; the result is "ok" unless an alarm is active.
func (s *Server) etcdSpace(ctx context.Context) etcdHealth {
	h := etcdHealth{result: "ok"}
	byID := map[uint64]string{}
	for _, m := range s.etcdMembers(ctx) {
		if m.Error == "" {
			byID[m.id] = m.Endpoint
		}
		h.members = append(h.members, m.EtcdMember)
	}
	actx, cancel := context.WithTimeout(ctx, etcdStatusTimeout)
	defer cancel()
	resp, err := s.cfg.Etcd.AlarmList(actx)
	if err != nil {
		s.log.Debug("listing etcd's alarms", "err", err)
		return h // alarms nil: not known, and no alarm metric exported
	}
	h.alarms = map[string]int{}
	var said []string
	for _, a := range resp.Alarms {
		kind := a.Alarm.String()
		h.alarms[kind]++
		where := byID[a.MemberID]
		if where == "" {
			where = "member " + strconv.FormatUint(a.MemberID, 16)
		}
		said = append(said, kind+" on "+where)
	}
	if len(said) > 0 {
		slices.Sort(said)
		h.result = fmt.Sprintf("alarm %s: %s", strings.Join(said, ", "), etcdAlarmHint(h.alarms))
	}
	return h
}

// etcdAlarmHint says what active alarms mean for the farm and where the
// remedy is.
func etcdAlarmHint(alarms map[string]int) string {
	if alarms["NOSPACE"] > 0 {
		return "etcd's database reached its quota and it refuses every write (no node can register): " +
			"compact, defragment and disarm it (docs/deploy.md §8)"
	}
	return "an etcd member's data is damaged or differs from the others: replace it (docs/deploy.md §8)"
}

// etcdMembers asks each endpoint (once, however often listed) for its
// database's size, use and quota, all at once.
func (s *Server) etcdMembers(ctx context.Context) []etcdMember {
	eps := slices.Compact(slices.Sorted(slices.Values(s.cfg.Etcd.Endpoints())))
	out := make([]etcdMember, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, etcdStatusTimeout)
			defer cancel()
			m := etcdMember{EtcdMember: api.EtcdMember{Endpoint: ep}}
			st, err := s.cfg.Etcd.Status(sctx, ep)
			switch {
			case err != nil:
				m.Error = err.Error()
			default:
				m.DBBytes, m.DBInUseBytes, m.QuotaBytes = st.DbSize, st.DbSizeInUse, st.DbSizeQuota
				if st.Header != nil {
					m.id = st.Header.MemberId
				}
			}
			out[i] = m
		})
	}
	wg.Wait()
	return out
}

// etcdMember is an endpoint's answer with the member id that alarms name.
type etcdMember struct {
	api.EtcdMember
	id uint64
}
