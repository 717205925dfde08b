package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// A hung S3 endpoint (a stopped process, a wedged disk, a black-holed
// connection) keeps its TCP connections open: the kernel still ACKs, so
// neither keep-alives nor the transport notice, an upload blocks in write
// once the socket buffers fill, and a download blocks in read — forever,
// while the node's heartbeat keeps its task lease alive, so the job would
// never end. Each upload attempt and each download read is therefore
// watched: no bytes moved for S3Config.StallTimeout cancels the request,
// and the stall counts as a transient error (retried, then reported).

// errS3Stalled marks a request cancelled for making no progress.
var errS3Stalled = errors.New("no progress from the S3 endpoint")

// stallGuard cancels its context when it is armed and not kicked for d.
type stallGuard struct {
	t *time.Timer
	d time.Duration
}

// newStallGuard returns a context derived from ctx that the guard
// cancels, the guard (armed when armed is true) and the func that
// releases both.
func newStallGuard(ctx context.Context, d time.Duration, armed bool) (context.Context, *stallGuard, func()) {
	gctx, cancel := context.WithCancelCause(ctx)
	g := &stallGuard{d: d}
	g.t = time.AfterFunc(d, func() { cancel(fmt.Errorf("%w for %v", errS3Stalled, d)) })
	if !armed {
		g.t.Stop()
	}
	return gctx, g, func() { g.t.Stop(); cancel(nil) }
}

// kick restarts the countdown: bytes moved.
func (g *stallGuard) kick() { g.t.Reset(g.d) }

// disarm stops the countdown (nobody is waiting on the endpoint).
func (g *stallGuard) disarm() { g.t.Stop() }

// stallErr is err, or a transient stall error when gctx was cancelled by
// its guard while parent is still live.
func stallErr(gctx, parent context.Context, err error) error {
	if err == nil || parent.Err() != nil {
		return err
	}
	if cause := context.Cause(gctx); errors.Is(cause, errS3Stalled) {
		return fmt.Errorf("%w (%v)", cause, err) // not %w: it is no caller's cancellation
	}
	return err
}

// kickReaderAt kicks its guard after every read of the upload's content.
type kickReaderAt struct {
	ra io.ReaderAt
	g  *stallGuard
}

func (k kickReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := k.ra.ReadAt(p, off)
	k.g.kick()
	return n, err
}

// guarded is b for one upload attempt: the same content, each read
// kicking g.
func (b *putBody) guarded(g *stallGuard) *putBody {
	c := *b
	c.ra = kickReaderAt{ra: b.ra, g: g}
	c.cleanup = nil // the original owns it
	return &c
}

// s3Object is an open GET and the stall guard of its requests.
type s3Object struct {
	*minio.Object
	ctx     context.Context // the guard's
	guard   *stallGuard
	release func()
}

// read is one read of the body, cancelled as stalled when it moves no
// byte for StallTimeout (armed only while reading: a slow consumer is no
// stall).
func (o *s3Object) read(parent context.Context, p []byte) (int, error) {
	o.guard.kick()
	n, err := o.Object.Read(p)
	o.guard.disarm()
	return n, stallErr(o.ctx, parent, err)
}

func (o *s3Object) Close() error {
	err := o.Object.Close()
	o.release()
	return err
}
