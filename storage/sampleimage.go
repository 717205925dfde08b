package storage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
)

// MaxSampleImage bounds the PNG SampleImage returns (bytes): a shard's
// stats come from a node, so their sizes are not trusted.
const MaxSampleImage = 32 << 20

// SampleImage reads the PNG of sample i (0-based, in the shard's order) of
// a finished shard: the object itself in the files layout, or its member
// of the shard's tar in the webdataset layout (streamed, never buffered
// whole). It serves the dashboard's thumbnails (coordinator/dashboard).
func SampleImage(ctx context.Context, store Reader, prefix string, shard, i int) ([]byte, error) {
	st, err := ReadStats(ctx, store, prefix, shard)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(st.Samples) {
		return nil, fmt.Errorf("shard %d has %d samples, no sample %d: %w", shard, len(st.Samples), i, ErrNotFound)
	}
	s := st.Samples[i]
	if s.Object == "" {
		return nil, fmt.Errorf("shard %d sample %d has no image (%s): %w", shard, i, s.Status, ErrNotFound)
	}
	r, err := store.Get(ctx, s.Object)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if s.Member == "" {
		return readCapped(r, s.Object)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s has no member %s: %w", s.Object, s.Member, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", s.Object, err)
		}
		if h.Name == s.Member {
			name := s.Object + "/" + s.Member
			if h.Size > MaxSampleImage { // refused before reading a byte
				return nil, fmt.Errorf("%s is larger than %d bytes", name, MaxSampleImage)
			}
			return readCapped(tr, name)
		}
	}
}

func readCapped(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSampleImage+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > MaxSampleImage {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, MaxSampleImage)
	}
	return b, nil
}
