package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// Forwarding writes. A follower proxies a write, the client's
// Authorization header included (the leader checks the token), to the
// leader's API. The leader's URL comes from etcd, which is not the
// cluster's authority on who leads: anyone able to write
// protocol.CoordinatorKey(id) could point followers, and the tokens they
// forward, at a host of their choosing. So a URL is used only when it
// belongs to the current Raft leader: published under the id Raft reports
// as leader, that id a server of the current Raft configuration, and the
// URL's host that server's Raft host (the same name, or a name resolving
// to one of its addresses). Who answers at that host is then the
// transport's business (mutual TLS with cluster TLS, see forwardTransport).

// leaderInfo is what a follower knows of the leader when forwarding.
type leaderInfo struct {
	ID       string // the Raft leader's server id ("" = none known)
	RaftAddr string // its address in the current Raft configuration ("" = not a member)
	URL      string // the API URL published in etcd under protocol.CoordinatorKey(ID)
}

// forwardLeader reads the leader from Raft and its API URL from etcd.
func (s *Server) forwardLeader(ctx context.Context) (leaderInfo, error) {
	r := s.getRaft()
	if r == nil {
		return leaderInfo{}, errNoLeader
	}
	_, id := r.LeaderWithID()
	li := leaderInfo{ID: string(id)}
	if li.ID == "" {
		return li, errNoLeader
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return li, fmt.Errorf("reading the raft configuration: %w", err)
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == id {
			li.RaftAddr = string(srv.Address)
		}
	}
	if s.cfg.Etcd == nil {
		return li, fmt.Errorf("leader %s: no etcd to look up its api address", li.ID)
	}
	resp, err := s.cfg.Etcd.Get(ctx, protocol.CoordinatorKey(li.ID))
	switch {
	case err != nil:
		return li, fmt.Errorf("looking up leader %s: %w", li.ID, err)
	case len(resp.Kvs) == 0:
		return li, fmt.Errorf("leader %s has not published its api address", li.ID)
	}
	li.URL = string(resp.Kvs[0].Value)
	return li, nil
}

// onLeader runs h on the leader and proxies the request there otherwise.
func (a *apiServer) onLeader(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > api.MaxBody {
			writeError(w, errTooLarge())
			return
		}
		if a.b.IsLeader() {
			h(w, r)
			return
		}
		if r.Header.Get(forwardedHeader) != "" {
			writeError(w, protocol.Errorf(protocol.CodeNotLeader, "forwarded write reached a non-leader; retry"))
			return
		}
		li, err := a.b.forwardLeader(r.Context())
		if err != nil {
			writeError(w, protocol.Errorf(protocol.CodeUnavailable, "no leader to forward to: %v", err))
			return
		}
		u, err := a.verifyLeader(r.Context(), li)
		if err != nil {
			if a.cfg.log != nil {
				a.cfg.log.Warn("not forwarding a write to an unverified leader url", "leader", li.ID, "url", li.URL, "err", err)
			}
			writeError(w, protocol.Errorf(protocol.CodeUnavailable, "not forwarding to leader %s: %v", li.ID, err))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, api.MaxBody)
		a.proxy(u).ServeHTTP(w, r)
	}
}

// verifyLeader returns the leader's API URL if it belongs to the current
// Raft leader (see the comment at the top of this file).
func (a *apiServer) verifyLeader(ctx context.Context, li leaderInfo) (*url.URL, error) {
	if li.ID == "" {
		return nil, errNoLeader
	}
	if li.RaftAddr == "" {
		return nil, fmt.Errorf("leader %s is not a server of the current raft configuration", li.ID)
	}
	u, err := url.Parse(li.URL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("api url %q: %w", li.URL, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Hostname() == "", u.User != nil, u.Opaque != "",
		u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, fmt.Errorf("api url %q: want http(s)://host:port", li.URL)
	}
	raftHost := li.RaftAddr
	if h, _, err := net.SplitHostPort(raftHost); err == nil {
		raftHost = h
	}
	ok, err := a.sameHost(ctx, u.Hostname(), raftHost)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("api url %q is not on the leader's raft host %s", li.URL, raftHost)
	}
	u.Path = ""
	return u, nil
}

// sameHost reports whether two host names (or IPs) name a common address.
func (a *apiServer) sameHost(ctx context.Context, x, y string) (bool, error) {
	if strings.EqualFold(x, y) {
		return true, nil
	}
	xs, err := a.lookup(ctx, x)
	if err != nil {
		return false, err
	}
	ys, err := a.lookup(ctx, y)
	if err != nil {
		return false, err
	}
	for _, p := range xs {
		for _, q := range ys {
			if p == q {
				return true, nil
			}
		}
	}
	return false, nil
}

// lookup resolves a host to its addresses (an IP literal to itself).
func (a *apiServer) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	resolve := a.cfg.lookupHost
	if resolve == nil {
		resolve = net.DefaultResolver.LookupHost
	}
	names, err := resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	var out []netip.Addr
	for _, n := range names {
		if ip, err := netip.ParseAddr(n); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

func (a *apiServer) proxy(u *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport: a.cfg.forward,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Header.Set(forwardedHeader, a.cfg.id+"@"+pr.In.Host)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, errTooLarge())
				return
			}
			writeError(w, protocol.Errorf(protocol.CodeUnavailable, "forwarding to leader %s: %v", u, err))
		},
	}
}
