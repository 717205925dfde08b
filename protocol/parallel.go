package protocol

import (
	"fmt"
	"strconv"
	"strings"
)

// Parallel DiT plans (JobSpec.Parallel): every shard of such a job runs on
// a gang of Degree nodes that split one transformer forward over NATS
// (package shard); rank 0 writes the shard.

// Parallel modes, as the --parallel flag spells them.
const (
	ParallelTP  = "tp"  // tensor parallel: heads and FFN channels
	ParallelSP  = "sp"  // sequence parallel: bands of latent rows
	ParallelCFG = "cfg" // the two classifier-free guidance branches
)

// Limits of a parallel plan's degree.
const (
	MinParallelDegree = 2
	MaxParallelDegree = 8
)

// ParallelPlan is a parsed JobSpec.Parallel.
type ParallelPlan struct {
	Mode   string
	Degree int
}

// String is the flag spelling, e.g. "sp:4".
func (p ParallelPlan) String() string { return p.Mode + ":" + strconv.Itoa(p.Degree) }

// maxParallelPlan bounds a plan's spelling; longer ones are not quoted
// back in errors (the value came from a client).
const maxParallelPlan = 16

// ParseParallel reads "tp:d" or "sp:d" (d in 2..8) or "cfg:2".
func ParseParallel(s string) (ParallelPlan, error) {
	if len(s) > maxParallelPlan {
		return ParallelPlan{}, fmt.Errorf("parallel plan of %d bytes: want mode:degree (tp:2, sp:4, cfg:2)", len(s))
	}
	mode, deg, ok := strings.Cut(s, ":")
	d, err := strconv.Atoi(deg)
	if !ok || err != nil {
		return ParallelPlan{}, fmt.Errorf("parallel plan %q: want mode:degree (tp:2, sp:4, cfg:2)", s)
	}
	switch mode {
	case ParallelTP, ParallelSP:
		if d < MinParallelDegree || d > MaxParallelDegree {
			return ParallelPlan{}, fmt.Errorf("parallel plan %q: degree %d, want %d..%d", s, d, MinParallelDegree, MaxParallelDegree)
		}
	case ParallelCFG:
		if d != 2 {
			return ParallelPlan{}, fmt.Errorf("parallel plan %q: cfg splits the two guidance branches, degree must be 2", s)
		}
	default:
		return ParallelPlan{}, fmt.Errorf("parallel plan %q: mode %q, want tp, sp or cfg", s, mode)
	}
	return ParallelPlan{Mode: mode, Degree: d}, nil
}

// Ranks is the number of nodes a shard of the job runs on (1 unless
// Parallel names a valid plan).
func (s JobSpec) Ranks() int {
	if s.Parallel == "" {
		return 1
	}
	p, err := ParseParallel(s.Parallel)
	if err != nil {
		return 1
	}
	return p.Degree
}

// GroupName is the NATS subject token of a gang attempt's transport:
// unique per job, shard and attempt, free of '.', '*', '>' and spaces (a
// job id may hold a '.': SubjectToken escapes it).
func GroupName(k TaskKey, attempt int) string {
	return fmt.Sprintf("%s_%05d_a%d", SubjectToken(string(k.Job)), k.Shard, attempt)
}
