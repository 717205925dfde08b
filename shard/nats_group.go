package shard

import (
	"context"
	"fmt"
	"time"
)

// beat publishes this rank's heartbeat until Close.
func (t *NATS) beat() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.Heartbeat)
	defer tick.Stop()
	var b [headerSize]byte
	header{kind: kindBeat, src: uint32(t.rank)}.put(b[:])
	subjects := t.subjects(-1, "hb")
	for {
		for _, subj := range subjects {
			if err := t.nc.Publish(subj, b[:]); err != nil {
				t.box.fail(fmt.Errorf("shard: rank %d heartbeat: %w", t.rank, err))
			}
		}
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
	}
}

// waitPeers returns once every other rank has been heard from.
func (t *NATS) waitPeers(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.Heartbeat / 4)
	defer tick.Stop()
	for {
		missing := -1
		for k := range t.size {
			if k != t.rank && t.seen[k].Load() == 0 {
				missing = k
				break
			}
		}
		if missing < 0 {
			t.log.Debug("shard group complete", "size", t.size)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("shard: rank %d waiting for rank %d to join: %w", t.rank, missing, context.Cause(ctx))
		case <-t.box.failed:
			return fmt.Errorf("shard: rank %d joining: %w", t.rank, t.box.failure())
		case <-tick.C:
		}
	}
}

// watch fails the group when a peer falls silent for PeerTimeout.
func (t *NATS) watch() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			for k := range t.size {
				if k == t.rank {
					continue
				}
				if idle := t.mono.Since(t.seen[k].Load()); idle > t.cfg.PeerTimeout {
					t.log.Warn("shard peer lost", "peer", k, "silent", idle)
					t.box.fail(fmt.Errorf("%w: rank %d silent for %v", ErrPeerLost, k, idle.Round(time.Millisecond)))
					return
				}
			}
		}
	}
}

// Close tells the group this rank leaves, then disconnects.
func (t *NATS) Close() error {
	var err error
	t.once.Do(func() {
		t.box.fail(ErrClosed)
		var b [headerSize]byte
		header{kind: kindBye, src: uint32(t.rank)}.put(b[:])
		for _, subj := range t.subjects(-1, "d") {
			_ = t.nc.Publish(subj, b[:])
		}
		err = t.nc.Flush()
		t.shutdown()
	})
	return err
}

func (t *NATS) shutdown() {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	t.nc.Close()
	t.wg.Wait()
}

type natsWire struct{ t *NATS }

// send publishes payload in chunks that, with their header, fit the
// server's max_payload.
func (w natsWire) send(ctx context.Context, to int, h header, payload []byte) error {
	t := w.t
	subjects := t.subjects(to, "d")
	chunk := int(t.nc.MaxPayload()) - headerSize
	buf := make([]byte, headerSize+min(chunk, len(payload)))
	h.total = uint64(len(payload))
	for off := 0; off == 0 || off < len(payload); off += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(chunk, len(payload)-off)
		h.off = uint64(off)
		h.put(buf)
		copy(buf[headerSize:], payload[off:off+n])
		for _, subj := range subjects {
			if err := t.nc.Publish(subj, buf[:headerSize+n]); err != nil {
				return fmt.Errorf("publishing to %s: %w", subj, err)
			}
		}
		if len(payload) == 0 {
			break
		}
	}
	return nil
}

func (w natsWire) close() error { return w.t.Close() }
