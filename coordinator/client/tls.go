package client

import (
	"crypto/tls"
	"net/http"
)

// Option configures a Client (New).
type Option func(*Client)

// WithTLS calls an https API with cfg (e.g. RootCAs holding a private
// CA); the request timeout and redirect policy stay New's.
func WithTLS(cfg *tls.Config) Option {
	return func(c *Client) {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg
		c.HTTP.Transport = t
	}
}
