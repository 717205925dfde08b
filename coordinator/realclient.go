package coordinator

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Behind the load balancer of docs/deploy.md every request comes from the
// balancer's address, so the wrong-token throttle (authlimit.go) counted
// all clients as one: a guesser locked out every holder of a short token.
// The balancer names the client in X-Forwarded-For. realClient believes
// that header only from the networks the operator lists as proxies
// (Config.TrustedProxies, --trusted-proxies; anyone else can write any
// header), reading it right to left past trusted hops, and makes the first
// other address the request's RemoteAddr for the throttle, the dashboard's
// in-process calls and the logs. Connections per client (connlimit.go)
// are counted before any HTTP header is read: per balancer, unless it
// sends PROXY headers (proxyconn.go), which also set the peer this sees.

// maxForwardHops bounds the X-Forwarded-For entries read from the right.
const maxForwardHops = 16

// realClient wraps h so a request a trusted proxy forwarded carries its
// client's address; with no trusted proxies it returns h.
func realClient(h http.Handler, trusted []netip.Prefix) http.Handler {
	if len(trusted) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := forwardedClient(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted); ok {
			r = r.WithContext(r.Context()) // a shallow copy: the caller's request is not changed
			r.RemoteAddr = c
		}
		h.ServeHTTP(w, r)
	})
}

// forwardedClient returns the client a trusted peer names in the
// X-Forwarded-For values (host:port, port 0), or false to keep the peer:
// the peer is not trusted, the header is missing or malformed, every hop
// is trusted, or it lists more than maxForwardHops before an untrusted one.
func forwardedClient(peer string, values []string, trusted []netip.Prefix) (string, bool) {
	if ip, ok := hostAddr(peer); !ok || !inPrefixes(ip, trusted) {
		return "", false
	}
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for {
			k := strings.LastIndexByte(rest, ',') // -1: the whole rest
			if hops++; hops > maxForwardHops {
				return "", false
			}
			ip, err := netip.ParseAddr(strings.TrimSpace(rest[k+1:]))
			if err != nil {
				return "", false
			}
			if ip = ip.Unmap(); !inPrefixes(ip, trusted) {
				return net.JoinHostPort(ip.String(), "0"), true
			}
			if k < 0 {
				break
			}
			rest = rest[:k]
		}
	}
	return "", false
}

func hostAddr(addr string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	return ip.Unmap(), err == nil
}

func inPrefixes(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
