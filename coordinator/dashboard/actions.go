package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/protocol"
)

// actionResult is the JSON answer of an action (app.js shows Error).
type actionResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// jobAction runs pause, resume, retry, cancel, delete or priority (form
// or query value "priority") on a job.
func (d *Dashboard) jobAction(w http.ResponseWriter, r *http.Request, s *session) {
	id, action := protocol.JobID(r.PathValue("id")), r.PathValue("action")
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	var err error
	switch action {
	case "pause":
		_, err = s.api.Pause(ctx, id)
	case "resume":
		_, err = s.api.Resume(ctx, id)
	case "retry":
		_, err = s.api.Retry(ctx, id)
	case "cancel":
		_, err = s.api.Cancel(ctx, id, "cancelled from the dashboard")
	case "delete":
		err = s.api.Delete(ctx, id, false)
	case "priority":
		var prio int
		if prio, err = strconv.Atoi(r.URL.Query().Get("priority")); err != nil {
			d.answer(w, http.StatusBadRequest, fmt.Errorf("priority %q: want an integer", r.URL.Query().Get("priority")))
			return
		}
		_, err = s.api.SetPriority(ctx, id, prio)
	default:
		d.answer(w, http.StatusNotFound, fmt.Errorf("unknown job action %q", action))
		return
	}
	d.answer(w, statusOf(err), err)
}

// nodeAction runs drain, disable or undrain on a node.
func (d *Dashboard) nodeAction(w http.ResponseWriter, r *http.Request, s *session) {
	id, action := r.PathValue("id"), r.PathValue("action")
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	var err error
	switch action {
	case "drain", "disable":
		_, err = s.api.Drain(ctx, id, action == "disable")
	case "undrain":
		_, err = s.api.Undrain(ctx, id)
	default:
		d.answer(w, http.StatusNotFound, fmt.Errorf("unknown node action %q", action))
		return
	}
	d.answer(w, statusOf(err), err)
}

func statusOf(err error) int {
	var pe *protocol.Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &pe) && pe.Code == protocol.CodeNotFound:
		return http.StatusNotFound
	case errors.As(err, &pe) && pe.Code == protocol.CodeUnauthorized:
		return http.StatusUnauthorized
	case errors.As(err, &pe) && pe.Code == protocol.CodeBadRequest:
		return http.StatusBadRequest
	case errors.As(err, &pe) && pe.Code == protocol.CodeConflict:
		return http.StatusConflict
	case errors.As(err, &pe) && pe.Code == protocol.CodeTooManyRequests:
		return http.StatusTooManyRequests
	}
	return http.StatusBadGateway
}

func (d *Dashboard) answer(w http.ResponseWriter, status int, err error) {
	res := actionResult{OK: err == nil}
	if err != nil {
		res.Error = describe(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

// describe is an error as the page shows it: an API error with the fields
// it names ("output.url: required"), so a bad form says which field.
func describe(err error) string {
	var pe *protocol.Error
	if !errors.As(err, &pe) || len(pe.Fields) == 0 {
		return err.Error()
	}
	parts := []string{pe.Message}
	for _, f := range pe.Fields {
		p := f.Field + ": " + f.Problem
		if f.Value != "" {
			p += fmt.Sprintf(" (%q)", f.Value)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}
