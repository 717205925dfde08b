package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// endless is a reader of prefix followed by fill for ever: a stats file
// that never ends.
type endless struct {
	prefix string
	fill   byte
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.prefix)
	e.prefix = e.prefix[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.fill
	}
	return len(p), nil
}

// endlessStore serves an endless object for every key.
type endlessStore struct{ prefix string }

func (s endlessStore) Get(context.Context, string) (io.ReadCloser, error) {
	return io.NopCloser(&endless{prefix: s.prefix, fill: ' '}), nil
}

func (s endlessStore) Stat(context.Context, string) (ObjectInfo, error) { return ObjectInfo{}, nil }

func TestReadStatsRefusesHugeStats(t *testing.T) {
	for _, prefix := range []string{`{"shard":7,"job":"`, `{"shard":7,`, ``} {
		_, err := readStats(context.Background(), endlessStore{prefix}, "p", 7, 1<<20)
		if err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") || !strings.Contains(err.Error(), "00007_stats.json") {
			t.Errorf("stats %q… read as %v, want refused as larger than the bound, naming the file", prefix, err)
		}
	}
}

// statsWith is a stats file of shard fuzzShard with field set to raw.
func statsWith(field, raw string) []byte {
	return []byte(fmt.Sprintf(`{"shard":%d,"job":"j",%q:%s}`, fuzzShard, field, raw))
}

// repeated is a JSON array of n copies of elem.
func repeated(elem string, n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + "]"
}

func TestStatsListsBounded(t *testing.T) {
	extra := func(n int) string {
		fields := make([]string, n)
		for i := range fields {
			fields[i] = fmt.Sprintf(`"f%d":%d`, i, i)
		}
		return `[{"index":0,"extra":{` + strings.Join(fields, ",") + `}}]`
	}
	cases := []struct {
		name, field, raw string
		want             string // "" accepted, else part of the error
	}{
		{"failures at the bound", "failures", repeated(`{}`, maxStatsList), ""},
		{"failures past it", "failures", repeated(`{}`, maxStatsList+1), "more than 400016 elements"},
		{"files past it", "files", repeated(`{}`, maxStatsList+1), "more than 400016 elements"},
		{"samples past it", "samples", repeated(`{}`, maxStatsList+1), "more than 400016 elements"},
		{"null samples", "samples", `null`, ""},
		{"samples not a list", "samples", `{"a":1}`, "want an array"},
		{"extra fields at the bound", "samples", extra(MaxExtraFields), ""},
		{"extra fields past it", "samples", extra(MaxExtraFields + 1), "more than 256 extra fields"},
		{"extra not an object", "samples", `[{"extra":[1]}]`, "want an object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newFuzzStore().with(StatsKey("p", fuzzShard), statsWith(c.field, c.raw))
			_, err := ReadStats(context.Background(), s, "p", fuzzShard)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("read as %v, want an error with %q", err, c.want)
			}
		})
	}
}

// TestBoundedDecodeMatchesPlain: within the bounds, the bounded types
// decode what encoding/json decodes into the plain types.
func TestBoundedDecodeMatchesPlain(t *testing.T) {
	js := `{"samples":[{"index":3,"key":"k","extra":{"a":1,"b":"x","c":{"d":[1,2]}}},{"index":4}],"files":[],` +
		`"failures":null}`
	var bounded struct {
		Samples  boundedList[SampleRecord]  `json:"samples"`
		Files    boundedList[ObjectDigest]  `json:"files"`
		Failures boundedList[SampleFailure] `json:"failures"`
	}
	var plain struct {
		Samples []struct {
			Index int64                      `json:"index"`
			Key   string                     `json:"key"`
			Extra map[string]json.RawMessage `json:"extra"`
		} `json:"samples"`
		Files    []ObjectDigest  `json:"files"`
		Failures []SampleFailure `json:"failures"`
	}
	if err := json.Unmarshal([]byte(js), &bounded); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(js), &plain); err != nil {
		t.Fatal(err)
	}
	if len(bounded.Samples) != 2 || bounded.Samples[0].Index != 3 || bounded.Samples[1].Index != 4 ||
		bounded.Samples[0].Key != "k" || (bounded.Files == nil) != (plain.Files == nil) || bounded.Failures != nil {
		t.Fatalf("bounded decode %+v, plain %+v", bounded, plain)
	}
	for k, v := range plain.Samples[0].Extra {
		if string(bounded.Samples[0].Extra[k]) != string(v) {
			t.Errorf("extra %q = %s, want %s", k, bounded.Samples[0].Extra[k], v)
		}
	}
	if len(bounded.Samples[0].Extra) != 3 || bounded.Samples[1].Extra != nil {
		t.Errorf("extras %v / %v", bounded.Samples[0].Extra, bounded.Samples[1].Extra)
	}
}

func TestPromptRowExtraFieldsBounded(t *testing.T) {
	fields := make([]string, MaxExtraFields+1)
	for i := range fields {
		fields[i] = fmt.Sprintf(`"f%d":1`, i)
	}
	line := `{"prompt":"a cat",` + strings.Join(fields, ",") + "}"
	_, _, err := parseLine([]byte(line), "jsonl", true)
	if err == nil || !strings.Contains(err.Error(), "257 extra fields, more than the limit of 256") {
		t.Fatalf("a row with %d extra fields: %v", MaxExtraFields+1, err)
	}
	line = `{"prompt":"a cat",` + strings.Join(fields[1:], ",") + "}"
	if _, _, err := parseLine([]byte(line), "jsonl", true); err != nil {
		t.Fatalf("a row with %d extra fields refused: %v", MaxExtraFields, err)
	}
}

func TestManifestExtraColumnsBounded(t *testing.T) {
	cols := extraColumns{}
	for row := range 10 {
		fields := make([]string, 200)
		for i := range fields {
			fields[i] = fmt.Sprintf(`"r%df%d":%d`, row, i, i)
		}
		cols.add("{" + strings.Join(fields, ",") + "}")
	}
	if len(cols) != MaxExtraColumns {
		t.Fatalf("%d extra columns from 2000 field names, want the bound %d", len(cols), MaxExtraColumns)
	}
	cols.add(`{"r0f0":"now a string","late":1}`)
	if cols["r0f0"] != kindJSON {
		t.Errorf("a known column is no longer widened: %v", cols["r0f0"])
	}
	if _, ok := cols["late"]; ok || len(cols) != MaxExtraColumns {
		t.Errorf("a column past the bound was added")
	}
}

func TestStatsErrorsNameNoValue(t *testing.T) {
	secret := strings.Repeat("s3cr3t", 10)
	for _, raw := range []string{`"` + secret + `"`, `[{"extra":"` + secret + `"}]`} {
		s := newFuzzStore().with(StatsKey("p", fuzzShard), statsWith("samples", raw))
		_, err := ReadStats(context.Background(), s, "p", fuzzShard)
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("samples %s: %v; want an error without the value", raw, err)
		}
	}
}

func TestCSVHeaderExtraColumnsBounded(t *testing.T) {
	cols := []string{"prompt", "seed"}
	for i := range MaxExtraFields {
		cols = append(cols, fmt.Sprintf("c%d", i))
	}
	if _, err := parseCSVHeader(cols, "p.csv"); err != nil {
		t.Fatalf("%d extra columns refused: %v", MaxExtraFields, err)
	}
	_, err := parseCSVHeader(append(cols, "one_more"), "p.csv")
	if err == nil || !strings.Contains(err.Error(), "p.csv:1: header has 257 extra columns") {
		t.Fatalf("%d extra columns: %v", MaxExtraFields+1, err)
	}
}

func TestCheckStatsFit(t *testing.T) {
	long := strings.Repeat("x", 60<<10)
	few := make([]PromptRow, 64)
	for i := range few {
		few[i] = PromptRow{Prompt: long, Extra: map[string]json.RawMessage{"a": json.RawMessage(`"` + long + `"`)}}
	}
	if err := CheckStatsFit(FormatFiles, 0, 0, few); err != nil {
		t.Fatalf("64 samples of 120 KiB: %v", err)
	}
	many := make([]PromptRow, 4400) // 4400 × 60 KiB > 256 MiB
	for i := range many {
		many[i] = PromptRow{Prompt: long}
	}
	if err := CheckStatsFit(FormatWebDataset, 0, 0, many); err == nil || !strings.Contains(err.Error(), "fewer images per shard") {
		t.Fatalf("4400 samples of 60 KiB: %v", err)
	}
	// Escapes count: 4200 prompts of 32 Ki quotes are 131 MiB as text and
	// 262 MiB escaped (\").
	quotes := make([]PromptRow, 4200)
	for i := range quotes {
		quotes[i] = PromptRow{Prompt: strings.Repeat(`"`, 32<<10)}
	}
	if err := CheckStatsFit(FormatFiles, 0, 0, quotes); err == nil {
		t.Fatal("4200 prompts of 32 Ki quotes (262 MiB escaped) fit")
	}
}

// TestStatsBoundHolds: for shards of both formats written by the real
// writers — prompts with escapes and non-ASCII text, ids, nested extra
// fields — the stats written never exceed StatsBound, and the bound is
// tight: the header allowance plus a few dozen bytes a sample (the widest
// numbers and digests).
func TestStatsBoundHolds(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	texts := []string{"a fox", `say "hi" <b>&amp;</b>`, "ünïcödé 漢字 🦊", "tab\there\nnewline\u0001", strings.Repeat("long ", 400)}
	extras := []string{`1`, `"x<y"`, `{"nested":{"a":[1,2,{"b":"c"}]}}`, `[true,null,3.25]`}
	for _, format := range []string{FormatFiles, FormatWebDataset} {
		for _, n := range []int{1, 7, 300, 3000} {
			const shard, start = 12, 123_456
			rows := make([]PromptRow, n)
			for i := range rows {
				r := PromptRow{Prompt: texts[rnd.IntN(len(texts))]}
				if rnd.IntN(2) == 0 {
					r.ID = fmt.Sprintf("id-%d-\"%d\"", i, rnd.IntN(1000))
				}
				if fields := rnd.IntN(3); fields > 0 {
					r.Extra = map[string]json.RawMessage{}
					for k := range fields {
						r.Extra[fmt.Sprintf("k%d", k)] = json.RawMessage(extras[rnd.IntN(len(extras))])
					}
				}
				rows[i] = r
			}
			store := newFuzzStore()
			w, err := NewShardWriter(store, format, "", shard)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rows {
				png := make([]byte, 1+rnd.IntN(5000))
				if err := w.Write(context.Background(), Sample{Index: start + int64(i), Prompt: r.Prompt, PNG: png, Meta: map[string]int{"i": i},
					Seed: rnd.Uint64(), Width: 1024, Height: 768, ID: r.ID, Extra: r.Extra, Steps: 20, Guidance: 4.5, Sampler: "dpm"}); err != nil {
					t.Fatal(err)
				}
			}
			st := ShardStats{Job: "j-0123456789abcdef", Attempt: 3, Node: "gpu-node-17", GPU: "NVIDIA H100 80GB HBM3", Backend: "cuda",
				Model: "Efficient-Large-Model/Sana_1600M_1024px_BF16_diffusers", Revision: strings.Repeat("a", 40), RequestHash: widestDigest,
				Start: start, End: start + int64(n), Seconds: 1234.5678,
				Timings: map[string]float64{"load": 1.25, "encode": 2.5, "denoise": 1000.125, "decode": 30.0625, "write": 4.03125}}
			if _, err := w.Finish(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			written := int64(len(store.objects[StatsKey("", shard)]))
			bound, err := StatsBound(format, shard, start, rows)
			if err != nil {
				t.Fatal(err)
			}
			if written > bound || bound-written > statsHeaderBound+int64(n)*100 {
				t.Errorf("%s, %d samples: written %d bytes, bound %d", format, n, written, bound)
			}
		}
	}
}
