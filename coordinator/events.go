package coordinator

import (
	"errors"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// The event stream (docs/architecture.md, "Event stream"): the FSM
// publishes the changes of each applied entry into an eventHub, which
// keeps the last events in a ring (for Last-Event-ID resumption) and fans
// them out to the subscribed streams. Every voter applies the same log, so
// every coordinator serves its own stream, with the same ids for the same
// replicated changes: a follower needs no proxying, and a client may
// resume on another coordinator.
//
// Ids: the Raft index << eventSeqBits | the event's rank in its entry. An
// entry that would produce more than maxEntryEvents events publishes the
// first ones and then a reset (deterministically: every voter cuts at the
// same place). Node join/leave events come from this coordinator's etcd
// watch, not the log: they take the next free rank after the last applied
// entry, so they are ordered with the replicated events here but their
// ids mean nothing on another coordinator.

const (
	eventSeqBits   = 12
	maxEntryEvents = 1<<eventSeqBits - 1 // the last rank is kept for a reset
)

// eventLimits bound the hub. Zero fields take defaultEventLimits.
type eventLimits struct {
	Ring    int           // events kept for resumption
	Buffer  int           // events queued per stream before it is dropped as slow
	Streams int           // concurrent streams
	Write   time.Duration // one write to a stream
	// Heartbeat is how often an idle stream gets a comment.
	Heartbeat time.Duration
}

var defaultEventLimits = eventLimits{Ring: 10_000, Buffer: 1024, Streams: 256, Write: 10 * time.Second,
	Heartbeat: api.EventHeartbeat}

func (l eventLimits) withDefaults() eventLimits {
	d := defaultEventLimits
	if l.Ring <= 0 {
		l.Ring = d.Ring
	}
	if l.Buffer <= 0 {
		l.Buffer = d.Buffer
	}
	if l.Streams <= 0 {
		l.Streams = d.Streams
	}
	if l.Write <= 0 {
		l.Write = d.Write
	}
	if l.Heartbeat <= 0 {
		l.Heartbeat = d.Heartbeat
	}
	return l
}

// errTooManyStreams: the concurrent stream limit is reached.
var errTooManyStreams = errors.New("too many event streams")

// eventHub is the ring and the subscribers. publish never blocks: a
// subscriber whose buffer is full is dropped (its stream ends and the
// client resumes with Last-Event-ID).
type eventHub struct {
	lim eventLimits

	mu    sync.Mutex
	ring  []api.Event // circular, len <= lim.Ring
	head  int         // index of the oldest event when full
	floor uint64      // every event with id > floor is in the ring or yet to come
	last  uint64      // the last id issued (or reserved by an applied entry)
	subs  map[*eventSub]struct{}
	// nodesListed: the node watch listed the nodes once (that first
	// listing is the state at start, not joins).
	nodesListed bool
}

// eventSub is one stream's subscription.
type eventSub struct {
	ch     chan api.Event
	filter eventFilter
	gone   chan struct{} // closed when dropped as slow
}

// eventFilter is an api.EventFilter as sets: every event is matched
// against every stream's filter under h.mu, which publishEntry takes on
// the FSM's apply path, so a match costs one lookup per list however
// long the list (parseEventQuery bounds it too).
type eventFilter struct {
	jobs  map[protocol.JobID]struct{} // nil: any job
	nodes map[string]struct{}         // nil: any node
}

func newEventFilter(f api.EventFilter) eventFilter {
	var s eventFilter
	if len(f.Jobs) > 0 {
		s.jobs = make(map[protocol.JobID]struct{}, len(f.Jobs))
		for _, j := range f.Jobs {
			s.jobs[j] = struct{}{}
		}
	}
	if len(f.Nodes) > 0 {
		s.nodes = make(map[string]struct{}, len(f.Nodes))
		for _, n := range f.Nodes {
			s.nodes[n] = struct{}{}
		}
	}
	return s
}

// matches applies the filter: each given list must hold the event's job
// (node); resets always pass.
func (f eventFilter) matches(e api.Event) bool {
	if e.Type == api.EventReset {
		return true
	}
	if _, ok := f.jobs[e.Job]; f.jobs != nil && !ok {
		return false
	}
	_, ok := f.nodes[e.Node]
	return f.nodes == nil || ok
}

func newEventHub(l eventLimits) *eventHub {
	l = l.withDefaults()
	return &eventHub{lim: l, subs: map[*eventSub]struct{}{}}
}

// publishEntry publishes the events of the entry at a Raft index (FSM
// only, in log order), giving them their ids.
func (h *eventHub) publishEntry(index uint64, evs []api.Event) {
	if h == nil {
		return
	}
	if len(evs) > maxEntryEvents {
		evs = append(evs[:maxEntryEvents:maxEntryEvents], api.Event{Type: api.EventReset})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	base := index << eventSeqBits
	if base <= h.last {
		return // replayed below what was published (never on a live FSM)
	}
	h.last = base // reserved even when the entry has no events: local ranks follow it
	for i := range evs {
		evs[i].ID = base + uint64(i)
		h.last = evs[i].ID
		h.add(evs[i])
	}
}

// publishLocal publishes events that are not in the log (node join and
// leave): they take the next ranks after the last applied entry, and are
// dropped when that entry used them all.
func (h *eventHub) publishLocal(evs ...api.Event) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range evs {
		next := h.last + 1
		if next>>eventSeqBits != h.last>>eventSeqBits || next&maxEntryEvents == maxEntryEvents {
			return // no rank left under this index
		}
		h.last, e.ID = next, next
		h.add(e)
	}
}

// restored is called after the FSM's state was replaced by a snapshot at
// a Raft index: history before it is gone, so the ring is emptied and the
// live streams get a reset.
func (h *eventHub) restored(index uint64) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	base := index << eventSeqBits
	h.ring, h.head = nil, 0
	h.floor, h.last = max(base, h.last), max(base, h.last)
	h.fanOut(api.Event{ID: h.last, Type: api.EventReset})
}

// add appends to the ring and fans out. Callers hold h.mu.
func (h *eventHub) add(e api.Event) {
	if len(h.ring) < h.lim.Ring {
		h.ring = append(h.ring, e)
	} else {
		h.floor = h.ring[h.head].ID
		h.ring[h.head] = e
		h.head = (h.head + 1) % len(h.ring)
	}
	h.fanOut(e)
}

// fanOut queues e to every matching subscriber, dropping full ones.
// Callers hold h.mu.
func (h *eventHub) fanOut(e api.Event) {
	for s := range h.subs {
		if !s.filter.matches(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			delete(h.subs, s)
			close(s.gone)
		}
	}
}

// subscribe registers a stream. With since, it also returns the ring's
// matching events after since, or a single reset event when events after
// since were already evicted (or never kept: before a snapshot); without,
// the stream starts live. The backlog and the subscription are taken
// under one lock, so nothing falls between them.
func (h *eventHub) subscribe(f api.EventFilter, since *uint64) (*eventSub, []api.Event, error) {
	filter := newEventFilter(f) // built before the lock: publishers wait on it
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= h.lim.Streams {
		return nil, nil, errTooManyStreams
	}
	s := &eventSub{ch: make(chan api.Event, h.lim.Buffer), filter: filter, gone: make(chan struct{})}
	h.subs[s] = struct{}{}
	if since == nil {
		return s, nil, nil
	}
	if *since < h.floor {
		return s, []api.Event{{ID: h.last, Type: api.EventReset}}, nil
	}
	var back []api.Event
	for i := range h.ring {
		e := h.ring[(h.head+i)%len(h.ring)]
		if e.ID > *since && filter.matches(e) {
			back = append(back, e)
		}
	}
	return s, back, nil
}

// unsubscribe ends a subscription (idempotent).
func (h *eventHub) unsubscribe(s *eventSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// streams is the number of open subscriptions.
func (h *eventHub) streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// jobEvent is a job event for j's current state.
func jobEvent(j protocol.Job, at time.Time) api.Event {
	return api.Event{Type: api.EventJob, Job: j.ID, State: string(j.State), Paused: j.Paused,
		Manifest: !j.ManifestAt.IsZero(), ImagesDone: j.ImagesDone, Images: j.Images, ShardsDone: j.ShardsDone, Shards: j.Shards, Reason: j.Error, Time: at}
}
