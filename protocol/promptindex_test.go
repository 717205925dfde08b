package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func fileSpec(rows int64, x *PromptIndex) JobSpec {
	return JobSpec{Model: "sana-tiny", Output: OutputSpec{URL: "/out"},
		Prompts: PromptSource{URL: "/in/p.txt", Rows: rows, Index: x}}
}

func TestPromptIndexValidate(t *testing.T) {
	ok := &PromptIndex{Size: 100, Stride: 2, Offsets: []int64{0, 10, 20}}
	cases := []struct {
		name  string
		spec  JobSpec
		field string // "" = valid
	}{
		{"valid", fileSpec(5, ok), ""},
		{"valid, rows a multiple of the stride", fileSpec(6, ok), ""},
		{"no index", fileSpec(5, nil), ""},
		{"too few entries", fileSpec(7, ok), "prompts.index.offsets"},
		{"entry past the rows", fileSpec(4, ok), "prompts.index.offsets"},
		{"zero size", fileSpec(5, &PromptIndex{Stride: 2, Offsets: []int64{0, 1, 2}}), "prompts.index.size"},
		{"huge size", fileSpec(5, &PromptIndex{Size: 1 << 60, Stride: 2, Offsets: []int64{0, 1, 2}}), "prompts.index.size"},
		{"zero stride", fileSpec(5, &PromptIndex{Size: 9, Offsets: []int64{0, 1, 2}}), "prompts.index.stride"},
		{"no entries", fileSpec(5, &PromptIndex{Size: 9, Stride: 2}), "prompts.index.offsets"},
		{"too many entries", fileSpec(MaxPromptIndexEntries+1, &PromptIndex{Size: 1 << 20, Stride: 1,
			Offsets: make([]int64, MaxPromptIndexEntries+1)}), "prompts.index.offsets"},
		{"not increasing", fileSpec(5, &PromptIndex{Size: 100, Stride: 2, Offsets: []int64{0, 10, 10}}), "prompts.index.offsets[2]"},
		{"negative offset", fileSpec(5, &PromptIndex{Size: 100, Stride: 2, Offsets: []int64{-1, 10, 20}}), "prompts.index.offsets[0]"},
		{"offset past the size", fileSpec(5, &PromptIndex{Size: 20, Stride: 2, Offsets: []int64{0, 10, 20}}), "prompts.index.offsets[2]"},
		{"fine level", fileSpec(5, &PromptIndex{Size: 100, Stride: 2, Fine: 1, Offsets: []int64{0, 10, 20}}), ""},
		{"fine not dividing the stride", fileSpec(5, &PromptIndex{Size: 100, Stride: 2, Fine: 3, Offsets: []int64{0, 10, 20}}), "prompts.index.fine"},
		{"negative fine", fileSpec(5, &PromptIndex{Size: 100, Stride: 2, Fine: -2, Offsets: []int64{0, 10, 20}}), "prompts.index.fine"},
		{"first set", fileSpec(5, &PromptIndex{Size: 100, Stride: 2, First: 1, Offsets: []int64{10}}), "prompts.index.first"},
		{"inline prompts", JobSpec{Model: "sana-tiny", Output: OutputSpec{URL: "/out"},
			Prompts: PromptSource{Inline: []string{"a"}, Index: ok}}, "prompts.index"},
		{"parquet", JobSpec{Model: "sana-tiny", Output: OutputSpec{URL: "/out"},
			Prompts: PromptSource{URL: "/in/p.parquet", Rows: 5, Index: ok}}, "prompts.index"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.spec.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var v ValidationError
			if !errors.As(err, &v) || len(v) == 0 || v[0].Field != c.field {
				t.Fatalf("got %v, want an error naming %s", err, c.field)
			}
		})
	}
}

func TestForSamplesTrimsIndex(t *testing.T) {
	x := &PromptIndex{Size: 1000, Stride: 4, Offsets: []int64{0, 40, 80, 120}}
	s := fileSpec(14, x)
	s.ImagesPerPrompt = 2
	for _, c := range []struct {
		start, end      int64
		first, row, off int64
	}{
		{0, 2, 0, 0, 0},
		{6, 10, 0, 0, 0},     // rows 3..4: entry 0 (row 0)
		{8, 10, 1, 4, 40},    // row 4 is entry 1
		{27, 28, 3, 12, 120}, // row 13, the last
	} {
		got := s.ForSamples(c.start, c.end).Prompts.Index
		if got.First != c.first || len(got.Offsets) != 1 || got.Offsets[0] != c.off {
			t.Errorf("samples [%d, %d): index %+v, want entry %d at %d", c.start, c.end, got, c.first, c.off)
		}
		if row, off, ok := got.Entry((c.start / 2)); !ok || row != c.row || off != c.off {
			t.Errorf("samples [%d, %d): Entry = %d, %d, %v", c.start, c.end, row, off, ok)
		}
		if err := got.Check(14); err != nil {
			t.Errorf("trimmed index: %v", err)
		}
	}
	if len(x.Offsets) != 4 || s.Prompts.Index.First != 0 {
		t.Error("ForSamples modified the job's index")
	}
}

func TestUploadedInputReadable(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	a := Access{Read: MustAllowList("/srv/prompts"), Write: MustAllowList("/srv/out", "s3://bkt/out")}
	for _, c := range []struct {
		url  string
		want bool
	}{
		{"/srv/out/job1/" + InputKey(sum, "csv"), true},
		{"file:///srv/out/" + InputKey(sum, "jsonl"), true},
		{"s3://bkt/out/j/" + InputKey(sum, "txt"), true},
		{"/srv/prompts/p.txt", true},                     // an ordinary read root
		{"/srv/other/" + InputKey(sum, "csv"), false},    // outside the write roots
		{"/srv/out/job1/_inputs/secret.csv", false},      // not a content address
		{"/srv/out/job1/_inputs/" + sum + ".png", false}, // not a prompt format
		{"/srv/out/job1/" + sum + ".csv", false},         // not under _inputs
		{"/srv/out/_inputs/../../etc/" + sum + ".txt", false},
		{"s3://bkt/else/" + InputKey(sum, "txt"), false},
	} {
		err := a.WithUploadedInput(c.url).CheckRead(c.url)
		if (err == nil) != c.want {
			t.Errorf("%s: CheckRead = %v, want allowed %v", c.url, err, c.want)
		}
	}
	if len(a.Read.roots) != 1 {
		t.Error("WithUploadedInput changed the receiver's roots")
	}
}

// FuzzPromptIndexCheck: any JSON index either fails Check or answers
// Entry within its offsets, and trimming keeps it valid.
func FuzzPromptIndexCheck(f *testing.F) {
	f.Add([]byte(`{"size":100,"stride":2,"offsets":[0,10,20]}`), int64(5), int64(3))
	f.Add([]byte(`{"size":100,"stride":2,"first":1,"offsets":[10]}`), int64(5), int64(2))
	f.Add([]byte(`{"size":9223372036854775807,"stride":-1,"offsets":[]}`), int64(-1), int64(-5))
	f.Fuzz(func(t *testing.T, data []byte, rows, row int64) {
		var x PromptIndex
		if json.Unmarshal(data, &x) != nil || x.Check(rows) != nil {
			return
		}
		r, off, ok := x.Entry(row)
		if !ok {
			return
		}
		if r > row || row-r >= x.Stride || off < 0 || off >= x.Size {
			t.Fatalf("Entry(%d) = %d, %d for %+v", row, r, off, x)
		}
		s := JobSpec{Prompts: PromptSource{URL: "/p.txt", Rows: rows, Index: &x}}
		got := s.ForSamples(row, row+1).Prompts.Index
		if err := got.Check(rows); err != nil {
			t.Fatalf("trimmed %+v: %v", got, err)
		}
	})
}
