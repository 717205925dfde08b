package storage

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// abortS3 answers ListMultipartUploads with uploads (or listErr) and each
// AbortMultipartUpload with abort[uploadID] (an S3 error code; "" is
// success), recording the aborts asked for.
type abortS3 struct {
	uploads []string // upload ids, each under key <prefix>/<id>.tar
	listErr string
	abort   map[string]string

	mu      sync.Mutex
	aborted []string
}

var s3ErrorStatus = map[string]int{"AccessDenied": 403, "NotImplemented": 501, "MethodNotAllowed": 405,
	"NoSuchUpload": 404, "InternalError": 500}

func (f *abortS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(s3ErrorStatus[code])
		fmt.Fprintf(w, `<Error><Code>%s</Code><Message>%s</Message><RequestId>1</RequestId></Error>`, code, code)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Has("uploads"):
		if f.listErr != "" {
			fail(f.listErr)
			return
		}
		prefix := r.URL.Query().Get("prefix")
		var b strings.Builder
		b.WriteString(`<ListMultipartUploadsResult><Bucket>bucket</Bucket><IsTruncated>false</IsTruncated>`)
		for _, id := range f.uploads {
			fmt.Fprintf(&b, `<Upload><Key>%s%s.tar</Key><UploadId>%s</UploadId><Initiated>2026-12-07T00:00:00.000Z</Initiated></Upload>`, prefix, id, id)
		}
		b.WriteString(`</ListMultipartUploadsResult>`)
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write([]byte(b.String()))
	case r.Method == http.MethodDelete && r.URL.Query().Has("uploadId"):
		id := r.URL.Query().Get("uploadId")
		f.mu.Lock()
		f.aborted = append(f.aborted, id)
		f.mu.Unlock()
		switch code := f.abort[id]; code {
		case "":
		case "404":
			w.WriteHeader(http.StatusNotFound) // some stores send no body
			return
		default:
			fail(code)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusBadRequest)
	}
}

// TestAbortUploadsRefused: a store that does not let the node list or
// abort multipart uploads (a key without the permission, a store without
// the API) is left to the bucket's lifecycle rule with a warning, not an
// error that would fail the job's cleanup; an upload that ended meanwhile
// is no error either; any other failure is returned naming the location.
func TestAbortUploadsRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		f        *abortS3
		aborted  int
		err      string // "" none
		warn     bool   // the lifecycle-rule warning logged
		attempts []string
	}{
		{"all aborted", &abortS3{uploads: []string{"u1", "u2"}}, 2, "", false, []string{"u1", "u2"}},
		{"one ended meanwhile", &abortS3{uploads: []string{"u1", "u2"}, abort: map[string]string{"u1": "NoSuchUpload"}}, 1, "", false, []string{"u1", "u2"}},
		{"one ended, a bare 404", &abortS3{uploads: []string{"u1", "u2"}, abort: map[string]string{"u2": "404"}}, 1, "", false, []string{"u1", "u2"}},
		{"listing denied", &abortS3{listErr: "AccessDenied"}, 0, "", true, nil},
		{"listing not implemented", &abortS3{listErr: "NotImplemented"}, 0, "", true, nil},
		{"abort denied", &abortS3{uploads: []string{"u1", "u2"}, abort: map[string]string{"u1": "AccessDenied"}}, 0, "", true, []string{"u1"}},
		{"abort not allowed after one", &abortS3{uploads: []string{"u1", "u2"}, abort: map[string]string{"u2": "MethodNotAllowed"}}, 1, "", true, []string{"u1", "u2"}},
		{"listing fails", &abortS3{listErr: "InternalError"}, 0, "s3 aborting the uploads under s3://bucket/out/jobs/j-1/", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.f)
			defer srv.Close()
			var logs bytes.Buffer
			s, err := NewS3(S3Config{Endpoint: srv.URL, AccessKey: "k", SecretKey: "s", Lookup: "path",
				MaxAttempts: 2, RetryBase: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, "bucket", "out")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, err := s.AbortUploads(ctx, "jobs/j-1/")
			if n != tc.aborted {
				t.Errorf("aborted %d, want %d", n, tc.aborted)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("err %v, want none", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("err %v, want one containing %q", err, tc.err)
			}
			if got := strings.Contains(logs.String(), "lifecycle rule"); got != tc.warn {
				t.Errorf("lifecycle-rule warning logged %v, want %v:\n%s", got, tc.warn, logs.String())
			}
			tc.f.mu.Lock()
			defer tc.f.mu.Unlock()
			if strings.Join(tc.f.aborted, ",") != strings.Join(tc.attempts, ",") {
				t.Errorf("aborts asked %v, want %v", tc.f.aborted, tc.attempts)
			}
		})
	}
}
