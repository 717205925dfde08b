package state

import (
	"strings"
	"testing"
)

// TestReadSnapshotRefusesInconsistent: records the store never writes are
// refused with an error naming the job, instead of restoring counts that
// do not add up or a job that can never finish.
func TestReadSnapshotRefusesInconsistent(t *testing.T) {
	const h1 = `{"version":2,"jobs":1}` + "\n"
	job := func(fields string) string {
		return `{"type":"job","job":{"job":{"id":"j","state":"running"` + fields + "\n"
	}
	task := func(shard, state string) string {
		return `{"type":"task","task":{"job":"j","shard":` + shard + `,"state":"` + state + `"}}` + "\n"
	}
	for _, tc := range []struct {
		name, snap, want string // want "": accepted
	}{
		{"consistent", h1 + job(`,"shards":2,"shards_done":1},"cursor":1,"tasks":1}}`) + task("0", "done"), ""},
		{"job twice", `{"version":2,"jobs":2}` + "\n" + job(`,"shards":2},"cursor":0,"tasks":0}}`) + job(`,"shards":2},"cursor":0,"tasks":0}}`), "recorded twice"},
		{"bad id", h1 + strings.Replace(job(`,"shards":2},"cursor":0,"tasks":0}}`), `"id":"j"`, `"id":"../x"`, 1), "job"},
		{"negative shards", h1 + job(`,"shards":-3},"cursor":0,"tasks":0}}`), "-3 shards"},
		{"cursor past the shards", h1 + job(`,"shards":2},"cursor":5,"tasks":0}}`), "cursor 5"},
		{"task at the cursor", h1 + job(`,"shards":2,"shards_done":1},"cursor":0,"tasks":1}}`) + task("0", "done"), "cursor 0"},
		{"unknown state", h1 + job(`,"shards":2},"cursor":1,"tasks":1}}`) + task("0", "bogus"), "unknown state"},
		{"requeue of a done shard", h1 + job(`,"shards":2,"shards_done":1},"cursor":1,"requeue":[0],"tasks":1}}`) + task("0", "done"), "requeue entry 0"},
		{"queued shard not requeued", h1 + job(`,"shards":2},"cursor":1,"tasks":1}}`) + task("0", "queued"), "requeue set"},
		{"done count", h1 + job(`,"shards":2,"shards_done":2},"cursor":1,"tasks":1}}`) + task("0", "done"), "2 shards done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSnapshot(strings.NewReader(tc.snap))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
