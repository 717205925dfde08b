package testcluster_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// scalePrompt is row i of the generated input: ~100 bytes of JSONL, so
// 10M rows make a ~1 GB file like a real captions dump.
func scalePrompt(b []byte, i int64) []byte {
	b = append(b, `{"prompt":"a photograph of scene `...)
	b = strconv.AppendInt(b, 1_000_000_000+i, 10)
	return append(b, `, golden hour light, 35mm lens, wide angle, highly detailed"}`+"\n"...)
}

// writeScaleInput writes rows generated prompts as JSONL under dir.
func writeScaleInput(t *testing.T, dir string, rows int64) string {
	p := filepath.Join(dir, "prompts.jsonl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var line []byte
	for i := range rows {
		line = scalePrompt(line[:0], i)
		if _, err := w.Write(line); err != nil {
			t.Fatalf("writing %s: %v", p, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("closing %s: %v", p, err)
	}
	return p
}

// scaleSpec indexes the input like submit does for a local file it
// uploads (storage.IndexPromptsFine, the fine level stored beside the
// input at protocol.FineIndexSuffix) and returns the job spec: 64
// prompts per shard, fixture model, output under out.
func scaleSpec(t *testing.T, path, out string) (protocol.JobSpec, time.Duration) {
	t0 := time.Now()
	src := protocol.PromptSource{URL: "file://" + path}
	n, x, fine, err := storage.IndexPromptsFine(context.Background(), src)
	if err != nil {
		t.Fatalf("indexing %s: %v", path, err)
	}
	if len(fine) == 0 {
		x.Fine = 0
	} else if err := os.WriteFile(path+protocol.FineIndexSuffix, fine, 0o644); err != nil {
		t.Fatalf("writing the fine index: %v", err)
	}
	src.Rows, src.Index = n, x
	return protocol.JobSpec{Model: protocol.TinyPreset, ShardSize: protocol.DefaultShardSize, Prompts: src,
		Output: protocol.OutputSpec{URL: "file://" + out}}, time.Since(t0)
}

// coarseOnly is spec without the fine index level: how a node reads an
// input submit could not store the fine level beside (an s3:// file
// that is not the farm's).
func coarseOnly(spec protocol.JobSpec) protocol.JobSpec {
	x := *spec.Prompts.Index
	x.Fine = 0
	spec.Prompts.Index = &x
	return spec
}

// rangeReads are the medians of reading a task's 64 rows through the
// assignment's trimmed index (spec.ForSamples, as a node gets it) at the
// start of the input, at its end, and at the worst place (the last 64 rows
// before an index entry: a whole stride scanned).
type rangeReads struct{ start, end, worst time.Duration }

func benchRangeReads(t *testing.T, spec protocol.JobSpec) rangeReads {
	const rounds = 15
	rows, stride := spec.Prompts.Rows, spec.Prompts.Index.Stride
	at := []int64{0, rows - 64, (rows/stride)*stride - 64}
	times := make([][]time.Duration, len(at))
	for range rounds { // interleaved: the box's noise hits all three alike
		for k, start := range at {
			times[k] = append(times[k], readRange(t, spec, start))
		}
	}
	med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	return rangeReads{start: med(times[0]), end: med(times[1]), worst: med(times[2])}
}

func readRange(t *testing.T, spec protocol.JobSpec, start int64) time.Duration {
	t0 := time.Now()
	r, err := storage.NewPromptReader(spec.ForSamples(start, start+64).Prompts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadRows(context.Background(), start, start+64)
	d := time.Since(t0)
	want := string(scalePrompt(nil, start+63))
	if err != nil || len(got) != 64 || !strings.Contains(want, got[63].Prompt) {
		t.Fatalf("rows [%d, %d): %d rows, %v", start, start+64, len(got), err)
	}
	return d
}

// procStatus returns VmRSS and VmHWM of this process in MiB (Linux).
func procStatus(t *testing.T) (rss, hwm int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Logf("reading /proc/self/status: %v", err)
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb >> 10
		case "VmHWM":
			hwm = kb >> 10
		}
	}
	return rss, hwm
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
