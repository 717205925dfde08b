package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrShardIncomplete: a shard's stats are missing, belong to another
// request, or do not match the objects stored.
var ErrShardIncomplete = errors.New("shard incomplete")

// Reader is what shard verification and the manifest need of a Store.
type Reader interface {
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (ObjectInfo, error)
}

// ReadStats reads a shard's _stats.json (ErrNotFound when absent).
func ReadStats(ctx context.Context, store Reader, prefix string, shard int) (ShardStats, error) {
	return readStats(ctx, store, prefix, shard, MaxStatsBytes)
}

// readStats is ReadStats refusing stats larger than limit bytes.
func readStats(ctx context.Context, store Reader, prefix string, shard int, limit int64) (ShardStats, error) {
	key := StatsKey(prefix, shard)
	rc, err := store.Get(ctx, key)
	if err != nil {
		return ShardStats{}, err
	}
	defer rc.Close()
	var st ShardStats
	lr := &io.LimitedReader{R: rc, N: limit + 1}
	err = json.NewDecoder(lr).Decode(&st)
	if lr.N == 0 { // read past the bound: refused, whatever the decoder made of it
		return ShardStats{}, fmt.Errorf("%s: %w: larger than %d bytes", key, ErrShardIncomplete, limit)
	}
	if err != nil {
		return ShardStats{}, fmt.Errorf("%s: %w: %w", key, ErrShardIncomplete, err)
	}
	if st.Shard != shard {
		return ShardStats{}, fmt.Errorf("%s: %w: stats of shard %d", key, ErrShardIncomplete, st.Shard)
	}
	return st, nil
}

// VerifyShard returns a shard's stats if the shard is complete: its stats
// exist, were written for wantHash (unless wantHash is ""), and every
// object they list exists with the recorded size and SHA-256. Otherwise
// the error wraps ErrShardIncomplete and says what is wrong.
func VerifyShard(ctx context.Context, store Reader, prefix string, shard int, wantHash string) (ShardStats, error) {
	st, err := ReadStats(ctx, store, prefix, shard)
	if errors.Is(err, ErrNotFound) {
		return st, fmt.Errorf("shard %05d: %w: no stats", shard, ErrShardIncomplete)
	}
	if err != nil {
		return st, err
	}
	if wantHash != "" && st.RequestHash != wantHash {
		return st, fmt.Errorf("shard %05d: %w: stats are of request %.12s, want %.12s", shard, ErrShardIncomplete,
			st.RequestHash, wantHash)
	}
	if len(st.Files) == 0 || len(st.Samples) != st.Images {
		return st, fmt.Errorf("shard %05d: %w: stats list %d files and %d of %d samples", shard, ErrShardIncomplete,
			len(st.Files), len(st.Samples), st.Images)
	}
	for _, f := range st.Files {
		if err := verifyObject(ctx, store, f); err != nil {
			return st, fmt.Errorf("shard %05d: %w", shard, err)
		}
	}
	return st, nil
}

// verifyObject checks one object's size and SHA-256. The SHA-256 Stat
// reports is used when there is one (S3: the x-amz-meta-sha256 recorded
// at upload, which the server checked single PUTs against; local: hashed
// by Stat), so nothing is downloaded; an object without it (written by
// another tool) is read and hashed.
func verifyObject(ctx context.Context, store Reader, d ObjectDigest) error {
	info, err := store.Stat(ctx, d.Key)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %s is missing", ErrShardIncomplete, d.Key)
	}
	if errors.Is(err, ErrInvalidKey) { // the stats list a key no store holds
		return fmt.Errorf("%w: stats list %w", ErrShardIncomplete, err)
	}
	if err != nil {
		return err
	}
	if info.Size != d.Size {
		return fmt.Errorf("%w: %s is %d bytes, stats say %d", ErrShardIncomplete, d.Key, info.Size, d.Size)
	}
	got, n := info.SHA256, info.Size
	if got == "" {
		if got, n, err = hashObject(ctx, store, d.Key); err != nil {
			return err
		}
	}
	if n != d.Size || !strings.EqualFold(got, d.SHA256) {
		return fmt.Errorf("%w: %s has sha256 %.12s (%d bytes), stats say %.12s", ErrShardIncomplete, d.Key, got, n, d.SHA256)
	}
	return nil
}

// hashObject downloads an object and returns its hex SHA-256 and size.
func hashObject(ctx context.Context, store Reader, key string) (string, int64, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", n, fmt.Errorf("reading %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
