package dashboard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// taskPage is how many tasks one job page lists (the API's page limit).
const taskPage = 1000

// jobsShown is how many of the newest jobs the jobs page lists (one page
// of GET /v1/jobs; a farm keeps weeks of history, docs/scale.md).
const jobsShown = 200

// jobsPager is the API's paged listing (coordinator/client has it); an
// API without it lists every job.
type jobsPager interface {
	JobsPage(ctx context.Context, state protocol.JobState, after protocol.JobID, limit int) (api.JobList, error)
}

// newestJobs returns the newest jobsShown jobs in state and whether there
// are more.
func newestJobs(ctx context.Context, a API, state protocol.JobState) ([]protocol.Job, bool, error) {
	pg, ok := a.(jobsPager)
	if !ok {
		jobs, err := a.Jobs(ctx, state)
		return jobs, false, err
	}
	l, err := pg.JobsPage(ctx, state, "", jobsShown)
	return l.Jobs, l.Next != "", err
}

// jobsPage lists jobs, running first, newest first, filtered by ?state=.
func (d *Dashboard) jobsPage(w http.ResponseWriter, r *http.Request, s *session) {
	state := protocol.JobState(r.URL.Query().Get("state"))
	switch state {
	case "", protocol.JobQueued, protocol.JobRunning, protocol.JobDone, protocol.JobFailed, protocol.JobCancelled:
	default:
		http.Error(w, "unknown state filter "+strconv.Quote(string(state)), http.StatusBadRequest)
		return
	}
	jobs, more, err := newestJobs(r.Context(), s.api, state)
	p := page{Title: "Jobs", CSRF: s.csrf, Filter: string(state), MoreJobs: more}
	if err != nil {
		d.apiFailed(w, r, "jobs", p, err)
		return
	}
	now := d.cfg.Now()
	slices.SortFunc(jobs, func(a, b protocol.Job) int {
		if ra, rb := a.State == protocol.JobRunning, b.State == protocol.JobRunning; ra != rb {
			if ra {
				return -1
			}
			return 1
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	for _, j := range jobs {
		p.Jobs = append(p.Jobs, newJobRow(j, now))
	}
	d.render(w, r, "jobs", p)
}

// jobPage shows one job with its first tasks.
func (d *Dashboard) jobPage(w http.ResponseWriter, r *http.Request, s *session) {
	id := protocol.JobID(r.PathValue("id"))
	det, err := s.api.Job(r.Context(), id, true, 0, taskPage)
	p := page{Title: "Job " + string(id), Nav: "jobs", CSRF: s.csrf}
	if err != nil {
		d.apiFailed(w, r, "job", p, err)
		return
	}
	v := &jobView{jobRow: newJobRow(det.Job, d.cfg.Now()), Counts: det.Counts, More: det.Job.Shards > len(det.Tasks)}
	for _, t := range det.Tasks {
		tr := taskRow{Task: t}
		if t.Result != nil {
			tr.Duration = fmt.Sprintf("%.1fs", t.Result.Seconds)
		}
		v.Tasks = append(v.Tasks, tr)
	}
	if d.cfg.Image != nil {
		v.Thumbs = recentShards(v.Tasks)
	}
	v.Files = d.cfg.Open != nil
	p.Job = v
	d.render(w, r, "job", p)
}

func (d *Dashboard) nodesPage(w http.ResponseWriter, r *http.Request, s *session) {
	nodes, err := s.api.Nodes(r.Context())
	p := page{Title: "Nodes", CSRF: s.csrf}
	if err != nil {
		d.apiFailed(w, r, "nodes", p, err)
		return
	}
	slices.SortFunc(nodes, func(a, b api.NodeStatus) int { return cmp.Compare(a.Info.ID, b.Info.ID) })
	for _, n := range nodes {
		p.Nodes = append(p.Nodes, newNodeRow(n, d.cfg.Now()))
	}
	d.render(w, r, "nodes", p)
}

func (d *Dashboard) clusterPage(w http.ResponseWriter, r *http.Request, s *session) {
	h, err := s.api.Health(r.Context())
	p := page{Title: "Cluster", CSRF: s.csrf}
	if err != nil {
		d.apiFailed(w, r, "cluster", p, err)
		return
	}
	p.Health = &h
	d.render(w, r, "cluster", p)
}

// apiFailed shows an API error on the page with the API's status: a
// missing job is a 404, a refused token sends the browser to log in again.
func (d *Dashboard) apiFailed(w http.ResponseWriter, r *http.Request, name string, p page, err error) {
	status := http.StatusBadGateway
	var pe *protocol.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case protocol.CodeNotFound:
			status = http.StatusNotFound
		case protocol.CodeTooManyRequests:
			status = http.StatusTooManyRequests
		case protocol.CodeUnauthorized:
			if r.Method == http.MethodGet && d.cfg.AuthRequired {
				http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
				return
			}
			status = http.StatusUnauthorized
		}
	}
	d.log.Warn("dashboard: API call failed", "page", name, "err", err)
	p.Error = err.Error()
	w.WriteHeader(status)
	d.render(w, r, name, p)
}

// actionTimeout bounds one action's API call.
const actionTimeout = 30 * time.Second
