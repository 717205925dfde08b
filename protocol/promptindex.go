package protocol

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// PromptIndex is a sparse index of a TXT, JSONL or CSV prompt file's row
// offsets, built once at submit (storage.IndexPrompts) so that a node
// reads its task's rows with one seek instead of scanning the file from
// its start (issue #16; docs/scale.md). Offsets[i] is the byte offset in
// the file where row (First+i)·Stride starts: the start of its line (TXT,
// JSONL) or record (CSV, after the header, which is still read from byte
// 0), or of blank lines that precede it and are not rows.
type PromptIndex struct {
	// Size of the file in bytes when it was indexed: a reader refuses a
	// file of another size (it changed since submit).
	Size int64 `json:"size"`
	// Stride is the number of rows between entries: it starts at
	// PromptIndexStride and doubles whenever the index would pass
	// MaxPromptIndexEntries.
	Stride int64 `json:"stride"`
	// First is the entry number of Offsets[0]: 0 in a job spec; an
	// Assignment carries only the entry its task starts from.
	First int64 `json:"first,omitempty"`
	// Offsets of rows First·Stride, (First+1)·Stride, …, strictly
	// increasing and below Size.
	Offsets []int64 `json:"offsets"`
	// Fine, when not 0, is the stride of a dense second level stored next
	// to the file, at URL + FineIndexSuffix: the little-endian int64
	// offsets of rows 0, Fine, 2·Fine, … (submit writes it beside an
	// uploaded input). A task reads its one entry there and skips fewer
	// than Fine rows, so its read costs the same anywhere in the file; a
	// missing or inconsistent fine index falls back to Offsets.
	Fine int64 `json:"fine,omitempty"`
}

// FineIndexSuffix names the fine index next to its prompt file.
const FineIndexSuffix = ".idx"

// Index bounds: at most MaxPromptIndexEntries entries (~20 KB of JSON in
// the job spec whatever the file's size), at least PromptIndexStride rows
// apart.
const (
	PromptIndexStride     = 1024
	MaxPromptIndexEntries = 2048
	// MaxPromptFileBytes bounds Size (1 PiB): offsets stay far from
	// overflow.
	MaxPromptFileBytes = 1 << 50
	// FineIndexStride starts the fine index's stride: one task's rows at
	// the default shard size. It doubles past MaxFineIndexEntries (32 MiB).
	FineIndexStride     = 64
	MaxFineIndexEntries = 1 << 22
)

// Entry returns the indexed row at or before row and its byte offset;
// ok is false when the index holds no such entry.
func (x *PromptIndex) Entry(row int64) (entryRow, offset int64, ok bool) {
	if x == nil || x.Stride <= 0 || row < 0 {
		return 0, 0, false
	}
	e := row/x.Stride - x.First
	if e < 0 || e >= int64(len(x.Offsets)) {
		return 0, 0, false
	}
	return (x.First + e) * x.Stride, x.Offsets[e], true
}

// Check returns the index's first problem (nil if none) for a file of
// rows rows: the bounds above, a stride of at least 1, offsets strictly
// increasing in [0, Size), and entries only for rows that exist. Errors
// name the field (prompts.index.…) and its value.
func (x *PromptIndex) Check(rows int64) error {
	fe := func(field string, v int64, problem string) error {
		return ValidationError{{Field: "prompts.index." + field, Value: strconv.FormatInt(v, 10), Problem: problem}}
	}
	switch {
	case x.Size <= 0 || x.Size > MaxPromptFileBytes:
		return fe("size", x.Size, fmt.Sprintf("want 1..%d bytes", int64(MaxPromptFileBytes)))
	case x.Stride < 1 || x.Stride > MaxRows:
		return fe("stride", x.Stride, fmt.Sprintf("want 1..%d rows", int64(MaxRows)))
	case len(x.Offsets) == 0 || len(x.Offsets) > MaxPromptIndexEntries:
		return fe("offsets", int64(len(x.Offsets)), fmt.Sprintf("want 1..%d entries", MaxPromptIndexEntries))
	case x.First < 0 || x.First > MaxRows/x.Stride:
		return fe("first", x.First, "want an entry number of the file's rows")
	case x.Fine < 0 || x.Fine > x.Stride || x.Fine > 0 && x.Stride%x.Fine != 0:
		return fe("fine", x.Fine, fmt.Sprintf("want 0 (none) or a divisor of the stride %d", x.Stride))
	}
	last := (x.First + int64(len(x.Offsets)) - 1) * x.Stride
	if rows > 0 && last >= rows {
		return fe("offsets", int64(len(x.Offsets)), fmt.Sprintf("entries up to row %d, but the file has %d rows", last, rows))
	}
	prev := int64(-1)
	for i, o := range x.Offsets {
		if o <= prev || o >= x.Size {
			return fe(fmt.Sprintf("offsets[%d]", i), o, fmt.Sprintf("want offsets strictly increasing and below the size %d", x.Size))
		}
		prev = o
	}
	return nil
}

// validatePromptIndex checks a job spec's index: only with a file URL,
// never for Parquet (which is read by row group), First 0 and one entry
// per Stride rows (a job indexes the whole file), and Check.
func (s JobSpec) validatePromptIndex(add addFunc) {
	x := s.Prompts.Index
	if x == nil {
		return
	}
	switch {
	case s.Prompts.URL == "":
		add("prompts.index", "", "an index needs a prompt file url")
	case strings.EqualFold(s.Prompts.FormatOrExt(), "parquet"):
		add("prompts.index", "", "parquet files are read by row group and take no index")
	case x.First != 0:
		add("prompts.index.first", strconv.FormatInt(x.First, 10), "must be 0 in a job spec")
	case x.Stride > 0 && x.Stride <= MaxRows && s.Prompts.Rows > 0 && s.Prompts.Rows <= MaxRows &&
		int64(len(x.Offsets)) != (s.Prompts.Rows+x.Stride-1)/x.Stride && len(x.Offsets) <= MaxPromptIndexEntries:
		add("prompts.index.offsets", strconv.Itoa(len(x.Offsets)), fmt.Sprintf("want %d entries (one per %d of %d rows)",
			(s.Prompts.Rows+x.Stride-1)/x.Stride, x.Stride, s.Prompts.Rows))
	default:
		var v ValidationError
		if errors.As(x.Check(s.Prompts.Rows), &v) {
			for _, f := range v {
				add(f.Field, f.Value, f.Problem)
			}
		}
	}
}

// trimIndex returns p with its index cut to the one entry that samples
// [start, end) need (their first row's entry), like ForSamples cuts
// inline prompts: an assignment stays small whatever the file's size.
func (p PromptSource) trimIndex(imagesPerPrompt int, start, end int64) PromptSource {
	if p.Index == nil || end <= start || start < 0 {
		return p
	}
	first := start / int64(max(imagesPerPrompt, 1))
	row, off, ok := p.Index.Entry(first)
	if !ok {
		return p
	}
	x := *p.Index
	x.First, x.Offsets = row/x.Stride, []int64{off}
	p.Index = &x
	return p
}

// InputsDir is the directory under a job's output where `sanafarm
// submit` uploads a local prompt file, as <sha256>.<ext>
// (docs/scale.md): content-addressed, so it never changes under a job.
const InputsDir = "_inputs"

// InputKey is the output-relative key of an uploaded prompt file.
func InputKey(sha256Hex, ext string) string {
	return InputsDir + "/" + sha256Hex + "." + ext
}

// IsUploadedInput reports whether raw names a prompt file as submit
// uploads it: …/_inputs/<64 hex digits>.<txt|jsonl|csv|parquet>.
func IsUploadedInput(raw string) bool {
	loc, err := ParseLocation(raw)
	if err != nil {
		return false
	}
	p := loc.Key
	if !loc.IsS3() {
		p = strings.ReplaceAll(loc.Path, `\`, "/")
	}
	dir, base := path.Split(p)
	if path.Base(strings.TrimSuffix(dir, "/")) != InputsDir {
		return false
	}
	sum, ext, ok := strings.Cut(base, ".")
	if !ok || len(sum) != 64 || !contains(promptExts, ext) {
		return false
	}
	return strings.Trim(sum, "0123456789abcdef") == ""
}

// WithUploadedInput returns a with raw added to its read roots when raw
// is an uploaded prompt file (IsUploadedInput) inside a's write roots:
// a node may read back the inputs submit stored next to the outputs it
// may write, without --allow-read naming every output. Symlinks are
// resolved by the write check where a resolves them, so a link under
// _inputs/ cannot lead out of the write roots.
func (a Access) WithUploadedInput(raw string) Access {
	if !IsUploadedInput(raw) || a.Write.Check(raw) != nil {
		return a
	}
	loc, err := ParseLocation(raw)
	if err != nil {
		return a
	}
	a.Read.roots = append(append([]Location(nil), a.Read.roots...), loc)
	return a
}
