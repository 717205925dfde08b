// Package storage holds the farm's object stores and dataset formats: a
// local-directory Store (the embedded default) and S3, URL parsing
// (Open), prompt sources that read a task's row range (PromptReader:
// inline, txt, jsonl and csv streamed, Parquet by row group; rows may
// carry a negative prompt, seed, id and extra fields), the shard writers
// ("files": one object per member; "webdataset": one tar per shard,
// spooled locally and stored with one Put), the per-shard Parquet of its
// samples beside the folder or tar (ShardParquetKey, as img2dataset
// writes), the per-shard _stats.json (written last; it lists every
// object's size and SHA-256, so VerifyShard can tell a complete shard
// from a partial one, its total bytes, and img2dataset's count,
// successes, failed_to_generate, start_time, end_time and status_dict)
// and the job manifest (WriteManifest: JSONL and Parquet, streamed from
// the stats; for a failed or cancelled job the unfinished shards' samples
// are rows too, with their status). Parquet files are zstd-compressed
// with a created_by of "sanafarm version <v> (build <rev>)", ManifestRow
// columns and one typed extra_<name> column per prompt-row extra field.
// S3 objects carry the media type of their extension (ContentType).
//
// A farm node writes each shard attempt under the output's staging folder
// _attempts/<job>/<shard:05d>/<attempt>/ (Stage, AttemptPrefix), keys
// mirroring the final layout, and the shard becomes visible only when an
// attempt the coordinator accepted is published: Publish copies its
// objects to the final keys (Store.Copy: a server-side copy on S3, a hard
// link on a local store) and its stats last. EnsurePublished lets the
// coordinator publish an accepted attempt whose node died before doing
// so; DiscardAttempt and DeletePrefix remove staging. So a node fenced
// out by the coordinator but still able to reach storage can only write
// under its own attempt's folder. A local store writes through its
// .sanafarm-tmp/ folder (files locked while written), and NewLocal
// removes what a killed writer left there (SweepTemp).
//
// It never imports coordinator or node (docs/architecture.md §3).
package storage
