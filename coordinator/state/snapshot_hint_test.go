package state

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestReadSnapshotTaskCountIsAHint: a job record's task count only sizes
// a bounded map hint; a snapshot claiming millions of tasks (corrupt or
// forged) does not allocate for them before they arrive (issue 13 item 1:
// no allocation from a claimed count).
func TestReadSnapshotTaskCountIsAHint(t *testing.T) {
	for _, claimed := range []int{2_000_000, 1 << 50, -1} {
		snap := fmt.Sprintf(`{"version":%d,"index":7,"jobs":1}
{"type":"job","job":{"job":{"id":"j-1","state":"queued","shards":3},"cursor":0,"tasks":%d}}
`, snapshotVersion, claimed)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := ReadSnapshot(strings.NewReader(snap))
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if j, ok := s.JobByID("j-1"); !ok || j.Shards != 3 {
			t.Fatalf("job %+v %v", j, ok)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
			t.Errorf("claimed %d tasks: allocated %d bytes", claimed, n)
		}
	}
}
