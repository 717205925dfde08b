package state

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sanafarm/sanafarm/protocol"
)

// ErrNewerRelease marks a log entry or a snapshot that uses a feature this
// release does not know: a newer release wrote it, and applying the rest
// without it would leave this server's state different from the others'
// (docs/architecture.md, "Feature gates").
var ErrNewerRelease = errors.New("written by a newer release")

// Bounds on the features a snapshot may list (a release adds a few).
const (
	maxFeatures       = 64
	maxFeatureNameLen = 64
)

// UseFeature records that the entry at index used a gated feature: from
// then on the state holds what only releases knowing it can read, and its
// snapshots say so (checked by ReadSnapshot). The first index is kept.
func (s *Store) UseFeature(feature string, index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.features[feature]; ok {
		return
	}
	f := maps.Clone(s.features) // a snapshot may share the old map
	if f == nil {
		f = map[string]uint64{}
	}
	f[feature] = index
	s.features = f
}

// FeaturesInUse returns each gated feature the state used, with the Raft
// index that first used it: a coordinator may be rolled back only to a
// release that knows all of them.
func (s *Store) FeaturesInUse() map[string]uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.features)
}

// checkFeatures refuses a snapshot's features this release does not know.
func checkFeatures(f map[string]uint64) error {
	if len(f) > maxFeatures {
		return fmt.Errorf("snapshot: %d features in use, at most %d", len(f), maxFeatures)
	}
	for _, name := range slices.Sorted(maps.Keys(f)) {
		if len(name) > maxFeatureNameLen {
			return fmt.Errorf("snapshot: feature name of %d bytes, at most %d", len(name), maxFeatureNameLen)
		}
		if !protocol.KnownFeature(name) {
			return fmt.Errorf("snapshot uses feature %q (since raft index %d), which this release does not know: %w",
				name, f[name], ErrNewerRelease)
		}
	}
	return nil
}
