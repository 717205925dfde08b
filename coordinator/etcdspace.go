package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

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

// etcdSpace asks every endpoint of the client for its database size and
// quota, and the cluster for its alarms. An endpoint that does not answer
// is listed with its error; the result is "ok" unless an alarm is active.
func (s *Server) etcdSpace(ctx context.Context) etcdHealth {
	h := etcdHealth{result: "ok"}
	byID := map[uint64]string{}
	seen := map[string]bool{}
	for _, ep := range s.cfg.Etcd.Endpoints() {
		if seen[ep] { // listed twice: one metric per endpoint
			continue
		}
		seen[ep] = true
		m := api.EtcdMember{Endpoint: ep}
		st, err := s.cfg.Etcd.Status(ctx, ep)
		if err != nil {
			m.Error = err.Error()
		} else {
			m.DBBytes, m.DBInUseBytes, m.QuotaBytes = st.DbSize, st.DbSizeInUse, st.DbSizeQuota
			if st.Header != nil {
				byID[st.Header.MemberId] = ep
			}
		}
		h.members = append(h.members, m)
	}
	resp, err := s.cfg.Etcd.AlarmList(ctx)
	if err != nil {
		s.log.Warn("listing etcd's alarms", "err", err)
		return h // alarms nil: not known
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
