package dashboard

import (
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestJobRowRate: img/s and ETA measure the current run — from its first
// lease, over the images done since — so a job queued for hours, or
// retried after a failure, does not read slow; a job from a coordinator
// without StartedAt keeps the age-based rate.
func TestJobRowRate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name      string
		job       protocol.Job
		rate, eta string
	}{
		{"queued an hour, running 100 s",
			protocol.Job{State: protocol.JobRunning, CreatedAt: ago(time.Hour), StartedAt: ago(100 * time.Second), Images: 1200, ImagesDone: 200},
			"2.00", "8m"},
		{"retried: 600 images from the first run, 100 in 50 s since",
			protocol.Job{State: protocol.JobRunning, CreatedAt: ago(48 * time.Hour), StartedAt: ago(50 * time.Second), StartedImages: 600,
				Images: 1000, ImagesDone: 700, Retries: 1},
			"2.00", "2m"},
		{"no StartedAt (older coordinator): age",
			protocol.Job{State: protocol.JobRunning, CreatedAt: ago(100 * time.Second), Images: 300, ImagesDone: 100},
			"1.00", "3m"},
		{"retried run with nothing done yet", protocol.Job{State: protocol.JobRunning, CreatedAt: ago(time.Hour),
			StartedAt: ago(10 * time.Second), StartedImages: 600, Images: 1000, ImagesDone: 600}, "", ""},
		{"leased this instant", protocol.Job{State: protocol.JobRunning, CreatedAt: ago(time.Hour), StartedAt: now,
			Images: 10, ImagesDone: 1}, "", ""},
		{"queued", protocol.Job{State: protocol.JobQueued, CreatedAt: ago(time.Hour), Images: 10}, "", ""},
		{"done", protocol.Job{State: protocol.JobDone, CreatedAt: ago(time.Hour), StartedAt: ago(time.Minute),
			Images: 10, ImagesDone: 10}, "", ""},
	} {
		r := newJobRow(tc.job, now)
		if r.Rate != tc.rate || r.ETA != tc.eta {
			t.Errorf("%s: rate %q ETA %q, want %q %q", tc.name, r.Rate, r.ETA, tc.rate, tc.eta)
		}
	}
}
