package coordinator

import (
	"slices"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

func ids(evs []api.Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func u64(v uint64) *uint64 { return &v }

// publishN publishes entries from..to (inclusive), one job event each.
func publishN(h *eventHub, from, to uint64) {
	for i := from; i <= to; i++ {
		h.publishEntry(i, []api.Event{{Type: api.EventJob, Job: "j"}})
	}
}

func TestEventRingResume(t *testing.T) {
	h := newEventHub(eventLimits{Ring: 4})
	publishN(h, 1, 6) // ring holds entries 3..6
	id := func(index uint64) uint64 { return index << eventSeqBits }
	cases := []struct {
		name  string
		since *uint64
		want  []uint64
		reset bool
	}{
		{"live", nil, nil, false},
		{"inside the ring", u64(id(4)), []uint64{id(5), id(6)}, false},
		{"at the head", u64(id(6)), nil, false},
		{"ahead of this coordinator", u64(id(9)), nil, false},
		{"oldest kept is next", u64(id(2)), []uint64{id(3), id(4), id(5), id(6)}, false},
		{"evicted", u64(id(1)), []uint64{id(6)}, true},
		{"from zero", u64(0), []uint64{id(6)}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, back, err := h.subscribe(api.EventFilter{}, c.since)
			if err != nil {
				t.Fatal(err)
			}
			defer h.unsubscribe(s)
			if got := ids(back); !slices.Equal(got, c.want) {
				t.Fatalf("backlog %v, want %v", got, c.want)
			}
			if reset := len(back) == 1 && back[0].Type == api.EventReset; reset != c.reset {
				t.Fatalf("reset %v, want %v (%+v)", reset, c.reset, back)
			}
		})
	}
	if len(h.ring) != 4 {
		t.Fatalf("ring holds %d, bound 4", len(h.ring))
	}
}

func TestEventIDs(t *testing.T) {
	h := newEventHub(eventLimits{})
	s, _, _ := h.subscribe(api.EventFilter{}, nil)
	h.publishEntry(5, []api.Event{{Type: api.EventTask}, {Type: api.EventJob}})
	h.publishLocal(api.Event{Type: api.EventNode, Node: "n1"})
	h.publishEntry(6, nil) // an entry without events still moves the local ranks on
	h.publishLocal(api.Event{Type: api.EventNode, Node: "n2"})
	big := make([]api.Event, maxEntryEvents+10)
	h.publishEntry(7, big)
	var got []api.Event
	for len(s.ch) > 0 {
		got = append(got, <-s.ch)
	}
	want := []uint64{5 << 12, 5<<12 + 1, 5<<12 + 2, 6<<12 + 1}
	if g := ids(got[:4]); !slices.Equal(g, want) {
		t.Fatalf("ids %v, want %v", g, want)
	}
	if n := len(got) - 4; n != 0 {
		// the subscriber's buffer (1024) overflowed: it was dropped
		select {
		case <-s.gone:
		default:
			t.Fatalf("%d events of entry 7 queued to a full subscriber that was not dropped", n)
		}
	}
	last := h.ring[(h.head+len(h.ring)-1)%len(h.ring)]
	if last.Type != api.EventReset || last.ID != 7<<12+maxEntryEvents {
		t.Fatalf("an entry over %d events ends with %+v, want a reset", maxEntryEvents, last)
	}
	h.publishLocal(api.Event{Type: api.EventNode}) // no rank left under entry 7
	if h.last != 7<<12+maxEntryEvents {
		t.Fatalf("a local event took id %d past its entry's ranks", h.last)
	}
}

func TestEventRestoreResets(t *testing.T) {
	h := newEventHub(eventLimits{})
	publishN(h, 1, 3)
	s, _, _ := h.subscribe(api.EventFilter{}, nil)
	h.restored(10)
	if e := <-s.ch; e.Type != api.EventReset || e.ID != 10<<eventSeqBits {
		t.Fatalf("live stream got %+v, want a reset", e)
	}
	_, back, _ := h.subscribe(api.EventFilter{}, u64(2<<eventSeqBits))
	if len(back) != 1 || back[0].Type != api.EventReset {
		t.Fatalf("resume from before the snapshot got %+v, want a reset", back)
	}
	h.publishEntry(11, []api.Event{{Type: api.EventJob}})
	h.publishLocal(api.Event{Type: api.EventNode})
	_, back, _ = h.subscribe(api.EventFilter{}, u64(10<<eventSeqBits))
	if got := ids(back); !slices.Equal(got, []uint64{11 << 12, 11<<12 + 1}) {
		t.Fatalf("after the snapshot: %v", got)
	}
}

func TestEventFilters(t *testing.T) {
	evs := []api.Event{{Type: api.EventJob, Job: "a"}, {Type: api.EventTask, Job: "a", Node: "n1"},
		{Type: api.EventTask, Job: "b", Node: "n2"}, {Type: api.EventNode, Node: "n1"}, {Type: api.EventReset}}
	cases := []struct {
		name string
		f    api.EventFilter
		want []int
	}{
		{"none", api.EventFilter{}, []int{0, 1, 2, 3, 4}},
		{"job", api.EventFilter{Jobs: []protocol.JobID{"a"}}, []int{0, 1, 4}},
		{"jobs", api.EventFilter{Jobs: []protocol.JobID{"a", "b"}}, []int{0, 1, 2, 4}},
		{"node", api.EventFilter{Nodes: []string{"n1"}}, []int{1, 3, 4}},
		{"job and node", api.EventFilter{Jobs: []protocol.JobID{"b"}, Nodes: []string{"n1"}}, []int{4}},
		{"job and nodes", api.EventFilter{Jobs: []protocol.JobID{"a"}, Nodes: []string{"n2", "n1"}}, []int{1, 4}},
		{"repeated values", api.EventFilter{Jobs: []protocol.JobID{"b", "b"}, Nodes: []string{"n2", "n2"}}, []int{2, 4}},
		{"unknown job", api.EventFilter{Jobs: []protocol.JobID{"c"}}, []int{4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []int
			for i, e := range evs {
				if newEventFilter(c.f).matches(e) {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("matched %v, want %v", got, c.want)
			}
		})
	}
}

func TestEventSlowSubscriberDropped(t *testing.T) {
	h := newEventHub(eventLimits{Buffer: 3})
	slow, _, _ := h.subscribe(api.EventFilter{}, nil)
	fast, _, _ := h.subscribe(api.EventFilter{}, nil)
	done := make(chan struct{})
	go func() { // publishing never waits for a subscriber
		defer close(done)
		for i := uint64(1); i <= 10; i++ {
			h.publishEntry(i, []api.Event{{Type: api.EventJob}})
			<-fast.ch
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publishing blocked on a slow subscriber")
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("the slow subscriber was not dropped")
	}
	select {
	case <-fast.gone:
		t.Fatal("the subscriber that kept up was dropped")
	default:
	}
	if n := h.streams(); n != 1 {
		t.Fatalf("%d streams open, want 1", n)
	}
}

func TestEventStreamLimit(t *testing.T) {
	h := newEventHub(eventLimits{Streams: 2})
	a, _, _ := h.subscribe(api.EventFilter{}, nil)
	if _, _, err := h.subscribe(api.EventFilter{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.subscribe(api.EventFilter{}, nil); err != errTooManyStreams {
		t.Fatalf("third stream: %v, want errTooManyStreams", err)
	}
	h.unsubscribe(a)
	if _, _, err := h.subscribe(api.EventFilter{}, nil); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
}
