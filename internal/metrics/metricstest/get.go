package metricstest

import (
	"io"
	"net/http"
	"testing"
)

// Answer is a response to Get.
type Answer struct {
	Status int
	Header http.Header
	Body   string
}

// Get requests url with hc (nil: http.DefaultClient), sending
// authorization as the Authorization header when it is not empty: the
// scrape of a /metrics that may ask for a bearer token.
func Get(t testing.TB, hc *http.Client, url, authorization string) Answer {
	t.Helper()
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}
