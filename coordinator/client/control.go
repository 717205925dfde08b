package client

import (
	"context"
	"net/http"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// Job and node control (docs/architecture.md, "Job and node control").
// Job ids are checked like Job's; writes retry across leader changes.

// jobAction POSTs /v1/jobs/{id}/{action} with body and returns the job.
func (c *Client) jobAction(ctx context.Context, id protocol.JobID, action string, body any) (protocol.Job, error) {
	var j protocol.Job
	if err := protocol.CheckJobID(id); err != nil {
		return j, err
	}
	if body == nil {
		body = struct{}{}
	}
	err := c.write(ctx, api.JobActionPath(id, action), body, &j)
	return j, err
}

// Pause stops new leases of a job (running shards finish).
func (c *Client) Pause(ctx context.Context, id protocol.JobID) (protocol.Job, error) {
	return c.jobAction(ctx, id, "pause", nil)
}

// Resume undoes Pause.
func (c *Client) Resume(ctx context.Context, id protocol.JobID) (protocol.Job, error) {
	return c.jobAction(ctx, id, "resume", nil)
}

// Retry puts a job's failed shards back in the queue (new attempts); a
// failed job runs again.
func (c *Client) Retry(ctx context.Context, id protocol.JobID) (protocol.Job, error) {
	return c.jobAction(ctx, id, "retry", nil)
}

// SetPriority changes a job's scheduling priority (higher runs first).
func (c *Client) SetPriority(ctx context.Context, id protocol.JobID, prio int) (protocol.Job, error) {
	return c.jobAction(ctx, id, "priority", api.PriorityRequest{Priority: &prio})
}

// Delete removes a finished job from the coordinator's state (its outputs
// stay); force deletes one whose manifest is not written yet.
func (c *Client) Delete(ctx context.Context, id protocol.JobID, force bool) error {
	if err := protocol.CheckJobID(id); err != nil {
		return err
	}
	path := api.JobPath(id)
	if force {
		path += "?force=1"
	}
	var d api.Deleted
	return c.retry(ctx, func() error { return c.do(ctx, http.MethodDelete, path, nil, &d) })
}

// Drain stops new leases to a node (running shards finish); disable also
// hands its current shards back to the queue; undrain undoes both.
func (c *Client) Drain(ctx context.Context, node string, disable bool) (api.NodeStatus, error) {
	action := "drain"
	if disable {
		action = "disable"
	}
	return c.nodeAction(ctx, node, action)
}

// Undrain makes a drained or disabled node schedulable again.
func (c *Client) Undrain(ctx context.Context, node string) (api.NodeStatus, error) {
	return c.nodeAction(ctx, node, "undrain")
}

func (c *Client) nodeAction(ctx context.Context, node, action string) (api.NodeStatus, error) {
	var ns api.NodeStatus
	if node == "" {
		return ns, protocol.Errorf(protocol.CodeBadRequest, "empty node id")
	}
	err := c.write(ctx, api.NodeActionPath(node, action), struct{}{}, &ns)
	return ns, err
}
