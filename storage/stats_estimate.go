package storage

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/sanafarm/sanafarm/protocol"
)

// A shard's stats are refused past MaxStatsBytes when written (encodeStats)
// — after the shard's images, hours of GPU time for a large shard. So a
// node checks, before the first image, what the stats will take at most
// (StatsBound, CheckStatsFit): every sample's record and objects are
// encoded as the writers will encode them, with the prompt row's own
// text, id and extra fields (exact, escapes and indentation included) and
// the widest value any number or digest can take. Only the stats' header
// (ids, timings, counts) is not encoded: statsHeaderBound covers it.

// statsHeaderBound is more than the stats' fields besides samples and
// files ever take: ids, names and hashes of at most a few hundred bytes
// each, a handful of timings and counts, and a status_dict of one entry
// (nodes record no per-sample failures).
const statsHeaderBound = 16 << 10

// Widest values: a seed or a size of 20 digits, a guidance scale whose
// shortest encoding is longest (24 bytes), a digest of 64 hex digits.
const (
	widestGuidance = -2.2250738585072014e-308
	widestSampler  = "euler" // the longest protocol.JobSpec.Sampler
)

var widestDigest = strings.Repeat("f", 64)

// StatsBound is the most bytes the stats of shard (starting at sample
// start) can take when every row — one per sample — is written in format.
// It stops counting once past MaxStatsBytes.
func StatsBound(format string, shard int, start int64, rows []PromptRow) (int64, error) {
	n := int64(statsHeaderBound)
	add := func(v any) error {
		b, err := json.MarshalIndent(v, "    ", "  ") // an element of a top-level list, as encodeStats lays it out
		n += int64(len(b)) + int64(len("    ")+len(",\n"))
		return err
	}
	if err := add(widestObject(ShardParquetKey("", shard))); err != nil {
		return 0, err
	}
	if format == FormatWebDataset {
		if err := add(widestObject(TarKey("", shard))); err != nil {
			return 0, err
		}
	}
	for i, r := range rows {
		idx := start + int64(i)
		key := SampleKey(idx)
		object, member := TarKey("", shard), key+".png"
		if format != FormatWebDataset {
			stem := ShardDir("", shard) + "/" + key
			object, member = stem+".png", ""
			for _, ext := range []string{".png", ".json", ".txt"} {
				if err := add(widestObject(stem + ext)); err != nil {
					return 0, err
				}
			}
		}
		rec := SampleRecord{Index: idx, Key: key, Object: object, Member: member, Prompt: r.Prompt, Seed: math.MaxUint64,
			PNG: widestDigest, Width: protocol.MaxImageSide, Height: protocol.MaxImageSide, Status: StatusOK,
			ID: r.ID, Extra: r.Extra, Steps: protocol.MaxSteps, Guidance: widestGuidance, Sampler: widestSampler}
		if err := add(rec); err != nil {
			return 0, fmt.Errorf("sample %d: %w", idx, err)
		}
		if n > MaxStatsBytes {
			break
		}
	}
	return n, nil
}

// widestObject is an object entry of key with the widest size and digest.
func widestObject(key string) ObjectDigest {
	return ObjectDigest{Key: key, Size: math.MaxInt64, SHA256: widestDigest}
}

// CheckStatsFit refuses a shard whose stats could grow past MaxStatsBytes
// (StatsBound), before any image is made, with what to change.
func CheckStatsFit(format string, shard int, start int64, rows []PromptRow) error {
	n, err := StatsBound(format, shard, start, rows)
	if err != nil {
		return fmt.Errorf("estimating the shard's stats: %w", err)
	}
	if n > MaxStatsBytes {
		return fmt.Errorf("the shard's stats could take more than %d bytes, the most a shard's stats may have, for its %d samples "+
			"(their prompts, ids and extra fields): use fewer images per shard (shard_size), or shorter prompts", MaxStatsBytes, len(rows))
	}
	return nil
}
