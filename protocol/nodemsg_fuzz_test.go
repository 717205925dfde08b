package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// checkDecoded holds for every decoder: an error is a bad_request
// *Error, and a message that passes its check re-encodes and decodes to
// one that passes again.
func checkDecoded[T interface{ Check() error }](t *testing.T, v T, err error, decode func([]byte) (T, error)) {
	t.Helper()
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeBadRequest {
			t.Fatalf("error %v is not a bad_request *Error", err)
		}
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode(b); err != nil {
		t.Fatalf("re-decoding %s: %v", b, err)
	}
}

func FuzzLeaseRequest(f *testing.F) {
	f.Add([]byte(`{"node":{"id":"gpu-1","backend":"cuda","slots":2,"gpus":[{"index":0,"name":"H100"}]},"free":2,"gang":true}`))
	f.Add([]byte(`{"node":{"id":"n"},"free":100000000000}`))
	f.Add([]byte(`{"node":{"id":"a/b"},"free":-1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"node":{"id":"n"},"free":1,"seq":3,"holds":[{"job":"j1","shard":2,"attempt":1}]}`))
	f.Add([]byte(`{"node":{"id":"n"},"free":1,"seq":4,"holds":[{"job":"j1","shard":-2,"attempt":0}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeLeaseRequest(data)
		if err == nil && (r.Free < 0 || r.Free > MaxLeaseFree || r.Node.ID == "" || len(r.Node.GPUs) > MaxNodeGPUs ||
			len(r.Holds) > MaxLeaseFree) {
			t.Fatalf("accepted %+v", r)
		}
		for _, h := range r.Holds {
			if err == nil && (h.Shard < 0 || h.Attempt < 1 || CheckJobID(h.Job) != nil) {
				t.Fatalf("accepted hold %+v", h)
			}
		}
		checkDecoded(t, r, err, DecodeLeaseRequest)
	})
}

func FuzzProgressReport(f *testing.F) {
	f.Add([]byte(`{"job":"j-0123456789abcdef","shard":3,"node":"gpu-1","attempt":1,"done":17}`))
	f.Add([]byte(`{"job":"../x","shard":-1,"node":"","attempt":0,"done":-5}`))
	f.Add([]byte(`{"job":"j","shard":1e300}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeProgressReport(data)
		if err == nil && (r.Shard < 0 || r.Attempt < 1 || r.Done < 0 || r.Node == "" || CheckJobID(r.Job) != nil) {
			t.Fatalf("accepted %+v", r)
		}
		checkDecoded(t, r, err, DecodeProgressReport)
	})
}

func FuzzCompleteReport(f *testing.F) {
	f.Add([]byte(`{"job":"j-0123456789abcdef","shard":0,"node":"gpu-1","attempt":2,"result":{"node":"gpu-1","images":4,"bytes":100,"objects":["a.png"],"seconds":1.5}}`))
	f.Add([]byte(`{"job":"j1","shard":0,"node":"n","attempt":1,"error":"model not found"}`))
	f.Add([]byte(`{"job":"j1","shard":0,"node":"n","attempt":1,"error":"x","result":{"images":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeCompleteReport(data)
		if err == nil && (r.Attempt < 1 || len(r.Error) > MaxReportError || r.Result != nil && (r.Error != "" || r.Result.Images < 0)) {
			t.Fatalf("accepted %+v", r)
		}
		checkDecoded(t, r, err, DecodeCompleteReport)
	})
}

// TestNodeMessageChecks names the field and value of each problem.
func TestNodeMessageChecks(t *testing.T) {
	for _, c := range []struct {
		msg, decoder, want string
	}{
		{`{"node":{"id":"n"},"free":100000000000}`, "lease", "free = 100000000000"},
		{`{"node":{"id":""},"free":1}`, "lease", "node.id: required"},
		{`{"node":{"id":"n"},"free":1,"holds":[{"job":"j1","shard":0,"attempt":1},{"job":"j1","shard":3,"attempt":0}]}`, "lease",
			`holds[1] = "j1/00003" attempt 0`},
		{`{"node":{"id":"n"},"free":1,"holds":[{"job":"../x","shard":0,"attempt":1}]}`, "lease", `holds[0] = "../x/00000"`},
		{`{"job":"j1","shard":-1,"node":"n","attempt":1}`, "progress", "shard = -1"},
		{`{"job":"../x","shard":0,"node":"n","attempt":1}`, "progress", `job = "../x"`},
		{`{"job":"j1","shard":0,"node":"n","attempt":0,"error":"e"}`, "complete", "attempt = 0"},
		{`{"job":"j1","shard":0,"node":"n","attempt":1,"error":"e","result":{}}`, "complete", "not both"},
	} {
		var err error
		switch c.decoder {
		case "lease":
			_, err = DecodeLeaseRequest([]byte(c.msg))
		case "progress":
			_, err = DecodeProgressReport([]byte(c.msg))
		default:
			_, err = DecodeCompleteReport([]byte(c.msg))
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want an error with %q", c.decoder, c.msg, err, c.want)
		}
	}
	if got := ClipReason(strings.Repeat("é", MaxReportError)); len(got) > MaxReportError || !strings.HasSuffix(got, "…") {
		t.Errorf("ClipReason: %d bytes", len(got))
	}
}
