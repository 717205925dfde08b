package coordinator

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestAPIErrorsNameFieldAndValue (issue 13 item 5): every refusal of a
// client's input says which field (or "(body)", "path") and which value.
// Unauthorized answers are the exception: they never echo a token.
func TestAPIErrorsNameFieldAndValue(t *testing.T) {
	srv := newTestAPI(t, newFake())
	big := `{"model":"` + strings.Repeat("x", 2<<20) + `"}`
	cases := []struct {
		name, method, path, body string
		status                   int
		field, value             string
	}{
		{"empty body", "POST", "/v1/jobs", "", 400, "(body)", `""`},
		{"too large", "POST", "/v1/jobs", big, 413, "(body)", "over 1048576 bytes"},
		{"not an object", "POST", "/v1/jobs", "0", 400, "(body)", "number"},
		{"syntax error in a field", "POST", "/v1/jobs", `{"seed":x,"model":"m"}`, 400, "seed", `{"seed":x,"model":"m"}`},
		{"syntax error", "POST", "/v1/jobs", `{"model" "x"}`, 400, "(body)", `{"model" "x"}`},
		{"trailing data", "POST", "/v1/jobs", validBody + ` {"x":1}`, 400, "(body)", `{"x":1}`},
		{"wrong type", "POST", "/v1/jobs", `{"model":"sana-tiny","width":"wide"}`, 400, "width", "string"},
		{"bad job id", "POST", "/v1/jobs?id=a/b", validBody, 400, "id", "a/b"},
		{"unknown job", "GET", "/v1/jobs/j-nope", "", 404, "id", "j-nope"},
		{"unknown route", "DELETE", "/v1/jobs", "", 404, "path", "DELETE /v1/jobs"},
		{"bad state", "GET", "/v1/jobs?state=zombie", "", 400, "state", "zombie"},
		{"bad limit", "GET", "/v1/jobs/j-1?tasks=1&limit=" + strings.Repeat("9", 100), "", 400, "limit", strings.Repeat("9", 64) + "…"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := call(t, srv.URL, c.method, c.path, testToken, c.body)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e protocol.Error
			if resp.StatusCode != c.status || json.Unmarshal(b, &e) != nil {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if len(e.Fields) == 0 || e.Fields[0].Field != c.field || e.Fields[0].Value != c.value {
				t.Fatalf("fields %+v, want %s = %s", e.Fields, c.field, c.value)
			}
		})
	}
}
