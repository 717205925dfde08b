package node

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/protocol"
)

// routeFarm is a NATS server whose "node" user may publish what pub lists
// (the nats.conf of one release or another) and a coordinator answering
// on the given subjects, counting what reaches each.
type routeFarm struct {
	node  *nats.Conn
	coord *nats.Conn
	hits  map[string]*atomic.Int32
}

func newRouteFarm(t *testing.T, pub []string) *routeFarm {
	t.Helper()
	all := protocol.NATSPermissions{Publish: []string{">"}, Subscribe: []string{">"}}
	n, err := embedded.StartNATS(embedded.NATSConfig{Users: []embedded.NATSUser{
		{Name: "coord", Password: "c", Permissions: all},
		{Name: "node", Password: "n", Permissions: protocol.NATSPermissions{Publish: pub, Subscribe: []string{"_INBOX.>"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	f := &routeFarm{hits: map[string]*atomic.Int32{}}
	for _, c := range []struct {
		conn **nats.Conn
		user string
		pw   string
	}{{&f.node, "node", "n"}, {&f.coord, "coord", "c"}} {
		nc, err := nats.Connect(n.UserURL(c.user, c.pw), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		*c.conn = nc
	}
	return f
}

// listen answers on subject.
func (f *routeFarm) listen(t *testing.T, subject string) *nats.Subscription {
	t.Helper()
	hits := &atomic.Int32{}
	f.hits[subject] = hits
	sub, err := f.coord.Subscribe(subject, func(m *nats.Msg) { hits.Add(1); _ = m.Respond([]byte("{}")) })
	if err != nil {
		t.Fatal(err)
	}
	if err := f.coord.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

func (f *routeFarm) send(r *ctlRoute) error {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := r.request(ctx, f.node, protocol.SubjectLease, "n1", []byte("{}"))
	return err
}

// TestCtlRoute: a node sends on its own control subject, and reaches a
// farm of an earlier release too: a leader that listens only on the bare
// subject (also after its own subject has worked: coordinators rolled
// back, or an older voter elected mid-upgrade), or a nats.conf that lets
// the node publish only there. During an election nobody answers on
// either, and the node does not move to the bare subject.
func TestCtlRoute(t *testing.T) {
	own := protocol.NodeSubject(protocol.SubjectLease, "n1")
	bare := protocol.SubjectLease

	t.Run("this release", func(t *testing.T) {
		f := newRouteFarm(t, []string{own, bare})
		sub := f.listen(t, own)
		var r ctlRoute
		if err := f.send(&r); err != nil || !r.ownWorked.Load() {
			t.Fatalf("own subject: %v, worked %v", err, r.ownWorked.Load())
		}
		_ = sub.Unsubscribe() // an election: nobody on any subject
		_ = f.coord.Flush()
		if err := f.send(&r); err == nil || r.bare.Load() {
			t.Fatalf("during an election: %v, bare %v", err, r.bare.Load())
		}
		// The leader elected is of an earlier release (a rollback): it
		// listens only on the bare subject.
		f.listen(t, bare)
		if err := f.send(&r); err != nil || f.hits[bare].Load() != 1 || !r.bare.Load() {
			t.Fatalf("leader of an earlier release after the own subject worked: %v, bare hit %d times, bare %v",
				err, f.hits[bare].Load(), r.bare.Load())
		}
	})
	t.Run("leader of an earlier release", func(t *testing.T) {
		f := newRouteFarm(t, []string{own, bare})
		f.listen(t, bare)
		var r ctlRoute
		if err := f.send(&r); err != nil || !r.bare.Load() || f.hits[bare].Load() != 1 {
			t.Fatalf("no responders on the own subject: %v, bare %v", err, r.bare.Load())
		}
	})
	t.Run("nats.conf of an earlier release", func(t *testing.T) {
		f := newRouteFarm(t, []string{bare}) // the own subject is refused: the request times out
		f.listen(t, own)
		f.listen(t, bare)
		var r ctlRoute
		if err := f.send(&r); err == nil {
			t.Fatal("a refused subject answered")
		}
		if err := f.send(&r); err != nil || f.hits[bare].Load() != 1 || f.hits[own].Load() != 0 {
			t.Fatalf("second request: %v, bare hits %d, own hits %d", err, f.hits[bare].Load(), f.hits[own].Load())
		}
	})
	t.Run("nats.conf updated after the bare subject was taken", func(t *testing.T) {
		f := newRouteFarm(t, []string{own})
		f.listen(t, own)
		f.listen(t, bare)
		var r ctlRoute
		r.bare.Store(true)
		if err := f.send(&r); err == nil {
			t.Fatal("a refused subject answered")
		}
		if err := f.send(&r); err != nil || !r.ownWorked.Load() || f.hits[own].Load() != 1 {
			t.Fatalf("second request: %v, own hits %d", err, f.hits[own].Load())
		}
	})
	t.Run("election with a per-node user", func(t *testing.T) {
		f := newRouteFarm(t, []string{own}) // this release's nats.conf: the bare subject is refused
		sub := f.listen(t, own)
		var r ctlRoute
		if err := f.send(&r); err != nil {
			t.Fatal(err)
		}
		_ = sub.Unsubscribe()
		_ = f.coord.Flush()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := r.request(ctx, f.node, protocol.SubjectLease, "n1", []byte("{}"))
		if err == nil || ctx.Err() != nil || r.bare.Load() {
			t.Fatalf("request during an election: %v (bare %v, request context %v); want it to give up on the refused bare subject first",
				err, r.bare.Load(), ctx.Err())
		}
	})
}
