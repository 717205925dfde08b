package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Result is one scenario run's measurements.
type Result struct {
	// Recovery is from the fault's injection to the job's end.
	Recovery time.Duration
	// Job is from submit to the job's end.
	Job time.Duration
	// Manifest is from the job's end to its manifest.jsonl.
	Manifest time.Duration
	// Notes are scenario-specific durations ("new leader": 0.7 s).
	Notes map[string]time.Duration
}

// Note records a scenario-specific duration.
func (r *Result) Note(name string, d time.Duration) {
	if r.Notes == nil {
		r.Notes = map[string]time.Duration{}
	}
	r.Notes[name] = d
}

// Results collects every run of every scenario.
type Results struct {
	mu    sync.Mutex
	order []string
	runs  map[string][]runResult
}

type runResult struct {
	ok bool
	Result
}

// Add records one run.
func (rs *Results) Add(scenario string, ok bool, r Result) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.runs == nil {
		rs.runs = map[string][]runResult{}
	}
	if _, seen := rs.runs[scenario]; !seen {
		rs.order = append(rs.order, scenario)
	}
	rs.runs[scenario] = append(rs.runs[scenario], runResult{ok, r})
}

// Markdown renders the results table of docs/reliability.md: runs,
// passes and medians over the passing runs.
func (rs *Results) Markdown() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var b strings.Builder
	b.WriteString("| scenario | runs | passes | median fault → job end | median job | median manifest lag | notes (medians) |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, name := range rs.order {
		runs := rs.runs[name]
		var rec, job, man []time.Duration
		notes := map[string][]time.Duration{}
		passes := 0
		for _, r := range runs {
			if !r.ok {
				continue
			}
			passes++
			rec, job, man = append(rec, r.Recovery), append(job, r.Job), append(man, r.Manifest)
			for k, d := range r.Notes {
				notes[k] = append(notes[k], d)
			}
		}
		var ns []string
		for _, k := range slices.Sorted(maps.Keys(notes)) {
			ns = append(ns, k+" "+median(notes[k]))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s |\n", name, len(runs), passes, median(rec), median(job),
			median(man), strings.Join(ns, ", "))
	}
	return b.String()
}

func median(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return fmt.Sprintf("%.1f s", ds[len(ds)/2].Seconds())
}
