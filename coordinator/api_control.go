package coordinator

import (
	"context"
	"errors"
	"net/http"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// controlBackend is the job and node control part of backend (control.go).
type controlBackend interface {
	PauseJob(ctx context.Context, id protocol.JobID, paused bool) (protocol.Job, error)
	RetryJob(ctx context.Context, id protocol.JobID) (protocol.Job, error)
	SetPriority(ctx context.Context, id protocol.JobID, prio int) (protocol.Job, error)
	DeleteJob(ctx context.Context, id protocol.JobID, force bool) error
	DrainNode(ctx context.Context, node string, drain, disable bool) (protocol.NodeControl, error)
}

// routeControl adds the control routes (see api.JobActionPath); every one
// is a write, so it needs the token and runs on the leader.
func (a *apiServer) routeControl(mux *http.ServeMux) {
	job := api.PathJobs + "/{id}"
	write := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, a.authWrite(a.onLeader(h))) }
	write("POST "+job+"/pause", a.jobAction(func(ctx context.Context, id protocol.JobID) (protocol.Job, error) {
		return a.b.PauseJob(ctx, id, true)
	}))
	write("POST "+job+"/resume", a.jobAction(func(ctx context.Context, id protocol.JobID) (protocol.Job, error) {
		return a.b.PauseJob(ctx, id, false)
	}))
	write("POST "+job+"/retry", a.jobAction(a.b.RetryJob))
	write("POST "+job+"/priority", a.priority)
	write("DELETE "+job, a.deleteJob)
	node := api.PathNodes + "/{id}"
	write("POST "+node+"/drain", a.nodeAction(true, false))
	write("POST "+node+"/disable", a.nodeAction(true, true))
	write("POST "+node+"/undrain", a.nodeAction(false, false))
}

// jobAction answers a body-less job action with the job after it.
func (a *apiServer) jobAction(do func(context.Context, protocol.JobID) (protocol.Job, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := noBody(w, r); err != nil {
			writeError(w, err)
			return
		}
		j, err := do(r.Context(), protocol.JobID(r.PathValue("id")))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, j)
	}
}

// noBody accepts an absent or empty JSON object body ({}), as cancel does.
func noBody(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength == 0 {
		return nil
	}
	var v struct{}
	if err := decodeBody(w, r, &v); err != nil && !errors.Is(err, errEmptyBody) {
		return err
	}
	return nil
}

func (a *apiServer) priority(w http.ResponseWriter, r *http.Request) {
	var req api.PriorityRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Priority == nil {
		writeError(w, &protocol.Error{Code: protocol.CodeBadRequest, Message: "priority is required",
			Fields: []protocol.FieldError{{Field: "priority", Problem: "required (an integer; higher runs first)"}}})
		return
	}
	j, err := a.b.SetPriority(r.Context(), protocol.JobID(r.PathValue("id")), *req.Priority)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (a *apiServer) deleteJob(w http.ResponseWriter, r *http.Request) {
	force := r.URL.Query().Get("force")
	if force != "" && force != "1" && force != "true" {
		writeError(w, &protocol.Error{Code: protocol.CodeBadRequest, Message: "bad force parameter",
			Fields: []protocol.FieldError{{Field: "force", Value: shortValue(force), Problem: "want 1 or true"}}})
		return
	}
	id := protocol.JobID(r.PathValue("id"))
	if err := a.b.DeleteJob(r.Context(), id, force != ""); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Deleted{ID: id})
}

// nodeAction sets a node's control state and answers it.
func (a *apiServer) nodeAction(drain, disable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := noBody(w, r); err != nil {
			writeError(w, err)
			return
		}
		id := r.PathValue("id")
		c, err := a.b.DrainNode(r.Context(), id, drain, disable)
		if err != nil {
			writeError(w, err)
			return
		}
		ns := api.NodeStatus{Info: protocol.NodeInfo{ID: id}}
		for _, n := range a.b.Nodes() {
			if n.Info.ID == id {
				ns = n
			}
		}
		ns.Control = nil
		if drain {
			ns.Control = &c
		}
		writeJSON(w, http.StatusOK, ns)
	}
}
