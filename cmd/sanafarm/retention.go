package main

import (
	"time"

	"github.com/spf13/pflag"
)

// retentionFlags bound the finished jobs a coordinator keeps in its state
// (coordinator.Config.JobRetention; docs/architecture.md, "Job and node
// control").
type retentionFlags struct {
	age   time.Duration
	count int
}

// Retention defaults: a week, and at most 1000 finished jobs.
const (
	defaultJobRetention      = 168 * time.Hour
	defaultJobRetentionCount = 1000
)

func (f *retentionFlags) register(fl *pflag.FlagSet) {
	fl.DurationVar(&f.age, "job-retention", defaultJobRetention,
		"delete finished jobs from the state this long after they ended (outputs stay; 0: keep)")
	fl.IntVar(&f.count, "job-retention-count", defaultJobRetentionCount,
		"keep at most this many finished jobs in the state, the newest (0: no limit)")
}

func (f *retentionFlags) check() error {
	if f.age < 0 {
		return usagef("--job-retention %v: want 0 or more", f.age)
	}
	if f.count < 0 {
		return usagef("--job-retention-count %d: want 0 or more", f.count)
	}
	return nil
}
