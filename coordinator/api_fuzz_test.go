package coordinator

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// FuzzDecodeJobSpec: a submit body never panics the decoder or the
// validation; a refusal is a *protocol.Error with a code whose field
// errors name their field; an accepted spec is within the job size limits.
// `make fuzz` runs it.
func FuzzDecodeJobSpec(f *testing.F) {
	for _, s := range []string{
		validBody,
		`{"model":"sana-tiny","images_per_prompt":1000,"shard_size":1,"prompts":{"url":"s3://b/p.txt","rows":68719476736},"output":{"url":"/o"}}`,
		`{"model":"sana-tiny","prompts":{"url":"p.txt","rows":99999999999999999999},"output":{"url":"/o"}}`,
		`{"model":"sana-tiny","seed":1,"steps":0,"guidance":NaN,"prompts":{"inline":["a"]},"output":{"url":"/o"}}`,
		`{"model":"sana-tiny","stepz":3}`,
		`{"model":"sana-tiny"} {"trailing":1}`,
		`{"prompts":{"inline":["a"],"inline_start":-9223372036854775808},"output":{"url":"s3:///"}}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
		`{"model":`, `"`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var spec protocol.JobSpec
		err := decodeJSONBytes(body, &spec)
		if err == nil {
			err = validateSpec(spec, body)
		}
		if err == nil {
			if n, s := spec.Samples(), spec.Shards(); n < 1 || n > protocol.MaxSamples || s < 1 || s > protocol.MaxShards {
				t.Fatalf("accepted a job of %d images in %d shards: %s", n, s, body)
			}
			return
		}
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code == "" || pe.Message == "" {
			t.Fatalf("error %#v is not a *protocol.Error with a code", err)
		}
		for _, fe := range pe.Fields {
			if fe.Field == "" || fe.Problem == "" {
				t.Fatalf("field error %+v names no field or problem", fe)
			}
		}
	})
}

// FuzzQuery: any query of GET /v1/jobs/{id} is parsed without a panic
// into a page within bounds, or refused with field errors naming the
// parameter and its value; the handler lists at most api.MaxTaskPage
// tasks of a 6.9e13-shard job.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"", "tasks=1", "tasks=true&limit=3&from=5", "tasks=1&limit=1000000000",
		"tasks=1&from=9223372036854775807&limit=10", "tasks=1&limit=-1", "tasks=1&limit=%zz",
		"tasks=1&limit=1e3&from=0x10", "tasks=1&tasks=0&limit=7", "limit=5;from=2",
	} {
		f.Add(s)
	}
	h := newAPI(storeBackend{fakeBackend: newFake(), srv: &Server{store: hugeJobStore(f)}}, apiConfig{})
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw) // what parses, as net/http would
		from, limit, perr := parseTaskQuery(q)
		if perr == nil {
			if from < 0 || from > protocol.MaxShards || limit < 0 || limit > api.MaxTaskPage {
				t.Fatalf("%q: from %d limit %d out of bounds", raw, from, limit)
			}
		} else {
			if perr.Code != protocol.CodeBadRequest || len(perr.Fields) == 0 {
				t.Fatalf("%q: error %+v", raw, perr)
			}
			for _, fe := range perr.Fields {
				if (fe.Field != "limit" && fe.Field != "from") || fe.Value == "" {
					t.Fatalf("%q: field error %+v", raw, fe)
				}
			}
		}
		req, err := http.NewRequest("GET", "/v1/jobs/j-huge?"+raw, nil)
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			var d api.JobDetail
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || len(d.Tasks) > api.MaxTaskPage {
				t.Fatalf("%q: %d tasks (%v)", raw, len(d.Tasks), err)
			}
		}
	})
}
