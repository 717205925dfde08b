package state

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestFeaturesInUse: the first use of each gated feature is kept, a
// snapshot taken before a use does not see it, and it survives a
// snapshot round trip and Replace.
func TestFeaturesInUse(t *testing.T) {
	s := seeded(t)
	before := s.Snapshot()
	s.UseFeature(protocol.FeatureNodeFault, 7)
	s.UseFeature(protocol.FeatureNodeFault, 9) // a later use keeps the first index
	s.UseFeature(protocol.FeatureRequeue, 8)
	want := map[string]uint64{protocol.FeatureNodeFault: 7, protocol.FeatureRequeue: 8}
	if got := s.FeaturesInUse(); !maps.Equal(got, want) {
		t.Fatalf("features %v, want %v", got, want)
	}
	var buf bytes.Buffer
	if _, err := before.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "features") {
		t.Fatalf("a snapshot taken before any use lists features: %.200s", buf.String())
	}
	buf.Reset()
	if _, err := s.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.FeaturesInUse(); !maps.Equal(got, want) {
		t.Fatalf("restored features %v, want %v", got, want)
	}
	fresh := New()
	fresh.Replace(r)
	if got := fresh.FeaturesInUse(); !maps.Equal(got, want) {
		t.Fatalf("replaced features %v, want %v", got, want)
	}
}

// TestReadSnapshotRefusesNewerRelease: a snapshot using a feature this
// release does not know, or of a newer format, is refused as a newer
// release's (ErrNewerRelease), naming the feature; this release's own
// features and a snapshot of an older release (no field) load.
func TestReadSnapshotRefusesNewerRelease(t *testing.T) {
	many := `{`
	for i := range maxFeatures + 1 {
		many += `"f` + strings.Repeat("x", i) + `":1,`
	}
	many = strings.TrimSuffix(many, ",") + `}`
	for _, tc := range []struct {
		name, header, want string // want "": accepted
		newer              bool
	}{
		{"older release", `{"version":2,"jobs":0}`, "", false},
		{"own features", `{"version":2,"jobs":0,"features":{"task-requeue":3,"task-node-fault":5}}`, "", false},
		{"unknown feature", `{"version":2,"jobs":0,"features":{"task-requeue":3,"lease-fencing":12}}`,
			`feature "lease-fencing" (since raft index 12)`, true},
		{"newer format", `{"version":3,"jobs":0}`, "snapshot version 3, this release reads up to 2", true},
		{"too many", `{"version":2,"jobs":0,"features":` + many + `}`, "features in use, at most", false},
		{"long name", `{"version":2,"jobs":0,"features":{"` + strings.Repeat("n", 65) + `":1}}`, "feature name of 65 bytes", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSnapshot(strings.NewReader(tc.header + "\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case errors.Is(err, ErrNewerRelease) != tc.newer:
				t.Fatalf("error %v: ErrNewerRelease %v, want %v", err, !tc.newer, tc.newer)
			}
		})
	}
}
