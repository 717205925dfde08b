package chaos

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

var runsFlag = flag.Int("chaos.runs", 0, "runs of each scenario (default $CHAOS_RUNS, else 1)")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if BinDir != "" {
		os.RemoveAll(BinDir)
	}
	os.Exit(code)
}

// chaosRuns is -chaos.runs, else $CHAOS_RUNS, else 1.
func chaosRuns(t *testing.T) int {
	if *runsFlag > 0 {
		return *runsFlag
	}
	if v := os.Getenv("CHAOS_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CHAOS_RUNS=%q: want a positive number of runs", v)
		}
		return n
	}
	return 1
}

// scenario is one fault; run injects it into a fresh farm while a job
// runs and asserts the job ends and its output is whole.
type scenario struct {
	name string
	run  func(t *testing.T, r *Result)
}

var scenarios = []scenario{
	{"leader-kill", leaderKill},
	{"leader-freeze", leaderFreeze},
	{"node-kill", nodeKill},
	{"frozen-node", func(t *testing.T, r *Result) { frozenNode(t, r, false) }},
	{"frozen-node-no-nats", func(t *testing.T, r *Result) { frozenNode(t, r, true) }},
	{"nats-restart", natsRestart},
	{"nats-outage", natsOutage},
	{"nats-freeze", natsFreeze},
	{"leader-nats-cut", leaderNATSCut},
	{"etcd-restart", etcdRestart},
	{"etcd-freeze", etcdFreeze},
	{"etcd-full", etcdFull},
	{"s3-restart", s3Restart},
	{"s3-freeze", s3Freeze},
	{"s3-outage", s3Outage},
	{"quorum-loss", quorumLoss},
	{"cluster-restart", clusterRestart},
	{"misconfigured-node", misconfiguredNode},
	{"rolling-restart", rollingRestart},
	{"api-abuse", apiAbuse},
	{"dev-kill-loop", devKillLoop},
}

// TestChaos runs every scenario chaosRuns times (SANAFARM_CHAOS=1 only:
// each run starts ~10 processes and takes ~30 s) and logs the results
// table of docs/reliability.md. -run 'TestChaos/leader-kill' picks one.
func TestChaos(t *testing.T) {
	if os.Getenv("SANAFARM_CHAOS") != "1" {
		t.Skip("multi-process fault scenarios (~20 min): set SANAFARM_CHAOS=1 to run them (make chaos)")
	}
	runs := chaosRuns(t)
	Build(t)
	WaitVersitygw(t, 15*time.Minute)
	var results Results
	start := time.Now()
	t.Cleanup(func() {
		table := results.Markdown()
		t.Logf("chaos results (%d runs per scenario, %v):\n%s", runs, time.Since(start).Round(time.Second), table)
		if p := os.Getenv("CHAOS_RESULTS"); p != "" {
			if err := os.WriteFile(p, []byte(table), 0o644); err != nil {
				t.Errorf("CHAOS_RESULTS: %v", err)
			}
		}
	})
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			for i := 1; i <= runs; i++ {
				var r Result
				ok := t.Run(fmt.Sprintf("run%d", i), func(t *testing.T) { sc.run(t, &r) })
				results.Add(sc.name, ok, r)
				t.Logf("%s run %d: ok=%v fault→end %v, job %v, manifest lag %v, %v", sc.name, i, ok,
					r.Recovery.Round(100*time.Millisecond), r.Job.Round(100*time.Millisecond),
					r.Manifest.Round(100*time.Millisecond), r.Notes)
			}
		})
	}
}
