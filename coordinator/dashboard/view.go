package dashboard

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// page is what every template gets.
type page struct {
	Title, Nav string
	CSRF       string
	Auth       bool
	Next       string
	Error      string
	Filter     string
	Jobs       []jobRow
	MoreJobs   bool // only the newest jobs are listed (pages.go jobsShown)
	Job        *jobView
	Nodes      []nodeRow
	Health     *api.Health
	Now        time.Time
	Live       bool // the event stream is there (Config.Events)
	Viewer     bool // a read-only session: no actions, no submit form
}

// jobRow is a job as the jobs table shows it.
type jobRow struct {
	protocol.Job
	Priority  int
	Percent   float64
	Rate      string // images/s while running
	ETA, Age  string
	Actions   []string
	Finished  bool
	StateText string
}

// jobView is one job's page.
type jobView struct {
	jobRow
	Counts api.TaskCounts
	Tasks  []taskRow
	More   bool
	Thumbs []int // shards to show an image of (Config.Image set)
	Files  bool  // manifest and stats links (Config.Open set)
}

type taskRow struct {
	protocol.Task
	Duration string
}

// nodeRow is a node as the nodes table shows it.
type nodeRow struct {
	api.NodeStatus
	State  string
	Uptime string
	Leased int
	// NoLeaderFor is how long the node has found no leader, by its clock
	// (NodeInfo.LeaderUnreachableSince; "" when it did not say).
	NoLeaderFor string
}

var funcs = template.FuncMap{
	"join":    strings.Join,
	"states":  func() []string { return []string{"queued", "running", "done", "failed", "cancelled"} },
	"presets": presetNames,
	"memPct": func(g protocol.GPUInfo) string {
		if g.MemoryTotal == 0 {
			return "0"
		}
		return fmt.Sprintf("%.0f", 100*float64(g.MemoryUsed)/float64(g.MemoryTotal))
	},
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", f) },
	"mib":   func(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) },
	"bytes": func(b int64) string { return humanize.IBytes(uint64(max(b, 0))) },
	// share is part as a whole percentage of whole (0 when whole is not known).
	"share": func(part, whole int64) int64 {
		if whole <= 0 {
			return 0
		}
		return part * 100 / whole
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
}

// runRate is a running job's images per second over its current run:
// since its first lease (protocol.Job.StartedAt), counting only the
// images done since, so time queued or an earlier run before a retry
// does not read as slowness. A job from a coordinator that predates
// StartedAt falls back to its age and all its images. ok is false when
// there is no rate yet (not running, nothing done in the run).
func runRate(j protocol.Job, now time.Time) (rate float64, ok bool) {
	since, done := j.CreatedAt, j.ImagesDone
	if !j.StartedAt.IsZero() {
		since, done = j.StartedAt, j.ImagesDone-j.StartedImages
	}
	el := now.Sub(since).Seconds()
	if j.State != protocol.JobRunning || el <= 0 || done <= 0 {
		return 0, false
	}
	return float64(done) / el, true
}

func newJobRow(j protocol.Job, now time.Time) jobRow {
	r := jobRow{Job: j, Priority: j.EffectivePriority(), Age: ago(now.Sub(j.CreatedAt)), StateText: string(j.State)}
	if j.Images > 0 {
		r.Percent = 100 * float64(j.ImagesDone) / float64(j.Images)
	}
	r.Finished = j.State == protocol.JobDone || j.State == protocol.JobFailed || j.State == protocol.JobCancelled
	if j.Paused && !r.Finished {
		r.StateText += " (paused)"
	}
	if rate, ok := runRate(j, now); ok {
		r.Rate = fmt.Sprintf("%.2f", rate)
		r.ETA = ago(time.Duration(float64(j.Images-j.ImagesDone) / rate * float64(time.Second)))
	}
	switch {
	case r.Finished:
		r.Actions = []string{"retry", "delete"}
		if j.State == protocol.JobDone {
			r.Actions = []string{"delete"}
		}
	case j.Paused:
		r.Actions = []string{"resume", "priority", "cancel"}
	default:
		r.Actions = []string{"pause", "priority", "cancel"}
	}
	return r
}

func newNodeRow(n api.NodeStatus, now time.Time) nodeRow {
	r := nodeRow{NodeStatus: n, Leased: len(n.Leases), State: "up"}
	switch {
	case !n.Live:
		r.State = "lost"
	case n.Control != nil && n.Control.Disable:
		r.State = "disabled"
	case n.Control != nil && n.Control.Auto:
		r.State = "auto-drained" // the leader's (coordinator/autodrain.go); Control.Reason says why
	case n.Control != nil && n.Control.Drain, n.Info.Draining:
		r.State = "draining"
	}
	if !n.Info.StartedAt.IsZero() {
		r.Uptime = ago(now.Sub(n.Info.StartedAt))
	}
	if n.Info.LeaderUnreachable && n.Info.LeaderUnreachableSince > 0 {
		r.NoLeaderFor = ago(now.Sub(time.Unix(n.Info.LeaderUnreachableSince, 0)))
	}
	return r
}

// ago renders a duration the way an operator reads it: 3s, 4m, 2h05m, 3d4h.
func ago(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// render executes a page template, or only its "body" part for ?fragment=1
// (the in-place refresh of app.js).
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name string, p page) {
	p.Auth = d.cfg.AuthRequired
	p.Now = d.cfg.Now()
	p.Live = d.cfg.Events != nil && name != "login" // the stream needs a session
	p.Viewer, _ = r.Context().Value(viewerKey{}).(bool)
	if p.Nav == "" {
		p.Nav = name
	}
	tmpl := name
	if r.URL.Query().Get("fragment") == "1" {
		tmpl = name + "-body"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := d.tmpl.ExecuteTemplate(w, tmpl, p); err != nil {
		d.log.Error("dashboard template", "page", name, "err", err)
	}
}
