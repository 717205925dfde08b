// Package storage holds the farm's object stores and dataset formats: a
// local-directory Store (the embedded default; S3 comes next), URL
// parsing (Open), prompt-file readers that stream a task's row range
// (PromptReader), and the "files" output format (FilesWriter), whose
// per-shard _stats.json, written last, marks a complete shard.
//
// It never imports coordinator or node (DESIGN.md §2).
package storage
