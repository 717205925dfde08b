package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"
)

func TestCauses(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{context.Canceled, CauseCanceled},
		{fmt.Errorf("put: %w", context.DeadlineExceeded), CauseTimeout},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), CauseNetwork},
		{io.ErrUnexpectedEOF, CauseNetwork},
		{errors.New("something else"), ""},
	} {
		if got := NetCause(c.err); got != c.want {
			t.Errorf("NetCause(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	for code, want := range map[int]string{429: CauseThrottled, 403: CauseAccess, 404: CauseNotFound, 408: CauseTimeout,
		503: CauseServer, 400: CauseClient, 302: CauseOther} {
		if got := HTTPCause(code); got != want {
			t.Errorf("HTTPCause(%d) = %q, want %q", code, got, want)
		}
	}
	var r *Retries // nil counts nothing, and a bare context carries none
	r.Retry(SystemS3, CauseTimeout)
	if RetriesFrom(context.Background()) != nil || RetriesFrom(WithRetries(context.Background(), nil)) != nil {
		t.Error("a context without Retries returned some")
	}
}
