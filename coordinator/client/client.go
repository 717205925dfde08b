// Package client is a small Go client of the coordinator's HTTP API (v1),
// used by the CLI. Any coordinator may be called: followers forward writes
// to the leader. Errors from the API are returned as *protocol.Error.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// Client calls one coordinator.
type Client struct {
	base  string
	token string
	// HTTP is the transport (default: a client with a 30 s timeout).
	HTTP *http.Client
	// Retries of writes answered not_leader/unavailable (a leader change;
	// default 20, 250 ms apart). Submits retry under one job id, so a
	// retried submit never creates a second job.
	Retries int
}

// New returns a client of the API at baseURL ("http://host:port" or
// "https://host:port", see WithTLS).
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token,
		HTTP: &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirects}, Retries: 20}
	for _, o := range opts {
		o(c)
	}
	return c
}

// noRedirects keeps a redirect as the answer: the API never redirects, and
// following one would turn a POST into a GET elsewhere (Go's client does
// that on 301/302) and send the token along to a same-host target.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// SubmitJob submits a spec and returns the accepted job.
func (c *Client) SubmitJob(ctx context.Context, spec protocol.JobSpec) (protocol.Job, error) {
	return c.SubmitJobID(ctx, protocol.NewJobID(), spec)
}

// SubmitJobID submits a spec under a chosen job id (idempotent: the same
// id and spec return the existing job).
func (c *Client) SubmitJobID(ctx context.Context, id protocol.JobID, spec protocol.JobSpec) (protocol.Job, error) {
	var j protocol.Job
	path := api.PathJobs
	if id != "" {
		if err := protocol.CheckJobID(id); err != nil {
			return j, err
		}
		path += "?id=" + url.QueryEscape(string(id))
	}
	err := c.write(ctx, path, spec, &j)
	return j, err
}

// Job returns a job's detail; withTasks lists up to limit tasks from shard
// from on (limit at most api.MaxTaskPage).
//
// Job ids come from users (the CLI's arguments): an id that is not a job
// id's shape (protocol.CheckJobID) is refused here with a bad_request
// naming it, before any request; a valid one is path-escaped anyway
// (api.JobPath), so no id can change the route or add a query.
func (c *Client) Job(ctx context.Context, id protocol.JobID, withTasks bool, from, limit int) (api.JobDetail, error) {
	var d api.JobDetail
	if err := protocol.CheckJobID(id); err != nil {
		return d, err
	}
	path := api.JobPath(id)
	if withTasks {
		path += "?tasks=1&from=" + strconv.Itoa(from) + "&limit=" + strconv.Itoa(limit)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &d)
	return d, err
}

// Tasks returns every task of a job, in shard order, one page of
// api.MaxTaskPage at a time (a job of millions of shards means as many
// thousand requests: meant for tests and verifiers).
func (c *Client) Tasks(ctx context.Context, id protocol.JobID) ([]protocol.Task, error) {
	var all []protocol.Task
	for {
		d, err := c.Job(ctx, id, true, len(all), api.MaxTaskPage)
		if err != nil {
			return all, err
		}
		all = append(all, d.Tasks...)
		if len(d.Tasks) < api.MaxTaskPage || len(all) >= d.Job.Shards {
			return all, nil
		}
	}
}

// JobsPage lists one page of jobs, newest first: up to limit (0: the
// API's default, at most api.MaxJobPage) in state ("" = all) submitted
// before job after ("" = from the newest). The jobs come without their
// prompts (api.JobList); the reply's Next is the next page's after.
func (c *Client) JobsPage(ctx context.Context, state protocol.JobState, after protocol.JobID, limit int) (api.JobList, error) {
	var l api.JobList
	if after != "" {
		if err := protocol.CheckJobID(after); err != nil {
			return l, err
		}
	}
	err := c.do(ctx, http.MethodGet, api.JobsPath(state, after, limit), nil, &l)
	return l, err
}

// Jobs lists every job (state "" = all) in submission order, walking the
// pages of api.MaxJobPage (for the CLI's status; the jobs come without
// their prompts).
func (c *Client) Jobs(ctx context.Context, state protocol.JobState) ([]protocol.Job, error) {
	var all []protocol.Job
	var after protocol.JobID
	for {
		l, err := c.JobsPage(ctx, state, after, api.MaxJobPage)
		if err != nil {
			return nil, err
		}
		all = append(all, l.Jobs...)
		if l.Next == "" || l.Next == after {
			break
		}
		after = l.Next
	}
	slices.Reverse(all) // pages are newest first
	return all, nil
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id protocol.JobID, reason string) (protocol.Job, error) {
	var j protocol.Job
	if err := protocol.CheckJobID(id); err != nil {
		return j, err
	}
	err := c.write(ctx, api.CancelPath(id), api.CancelRequest{Reason: reason}, &j)
	return j, err
}

// Nodes lists the nodes and their leases.
func (c *Client) Nodes(ctx context.Context) ([]api.NodeStatus, error) {
	var l api.NodeList
	err := c.do(ctx, http.MethodGet, api.PathNodes, nil, &l)
	return l.Nodes, err
}

// Health describes the called coordinator's Raft role.
func (c *Client) Health(ctx context.Context) (api.Health, error) {
	var h api.Health
	err := c.do(ctx, http.MethodGet, api.PathHealth, nil, &h)
	return h, err
}

// write POSTs, retrying while the cluster has no reachable leader.
func (c *Client) write(ctx context.Context, path string, body, out any) error {
	return c.retry(ctx, func() error { return c.do(ctx, http.MethodPost, path, body, out) })
}

// retry runs a write until it succeeds or fails otherwise than
// not_leader/unavailable (c.Retries times at most, 250 ms apart).
func (c *Client) retry(ctx context.Context, do func() error) error {
	for i := 0; ; i++ {
		err := do()
		code := protocol.CodeOf(err)
		if err == nil || i >= c.Retries || (code != protocol.CodeNotLeader && code != protocol.CodeUnavailable) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding %s %s response: %w", method, path, err)
	}
	return nil
}

// unreachableError is a request no coordinator answered: CodeUnavailable
// (what the retry loop and callers test), keeping the transport's error so
// that errors.Is finds a refused connection or a timeout in it.
type unreachableError struct {
	pe    *protocol.Error
	cause error
}

func (e *unreachableError) Error() string   { return e.pe.Error() }
func (e *unreachableError) Unwrap() []error { return []error{e.pe, e.cause} }

// unreachable wraps an error of http.Client.Do, which already names the
// method and URL.
func unreachable(err error) error {
	return &unreachableError{pe: &protocol.Error{Code: protocol.CodeUnavailable, Message: err.Error()}, cause: err}
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e protocol.Error
	if json.Unmarshal(b, &e) != nil || e.Code == "" {
		return &protocol.Error{Code: protocol.CodeInternal, Message: fmt.Sprintf("http %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))}
	}
	return &e
}
