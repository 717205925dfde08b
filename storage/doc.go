// Package storage holds the farm's object stores and dataset formats: a
// local-directory Store (the embedded default) and S3, URL parsing
// (Open), prompt sources that read a task's row range (PromptReader:
// inline, txt, jsonl and csv streamed, Parquet by row group; rows may
// carry a negative prompt, seed, id and extra fields), the shard writers
// ("files": one object per member; "webdataset": one tar per shard,
// spooled locally and stored with one Put), the per-shard _stats.json
// (written last; it lists every object's size and SHA-256, so
// VerifyShard can tell a complete shard from a partial one) and the job
// manifest (WriteManifest: JSONL and Parquet, streamed from the stats).
//
// It never imports coordinator or node (DESIGN.md §2).
package storage
