package protocol

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// leased builds shard's assignment the way the coordinator does: the
// spec trimmed to the task's samples (JobSpec.ForSamples).
func leased(spec JobSpec, shard int) Assignment {
	start, end := spec.SampleRange(shard)
	return Assignment{Task: Task{TaskKey: TaskKey{Job: "j-0123456789abcdef", Shard: shard}, Start: start, End: end,
		State: TaskLeased, Attempt: 1}, Spec: spec.ForSamples(start, end)}
}

func inlineSpec(n int) JobSpec {
	prompts := make([]string, n)
	for i := range prompts {
		prompts[i] = "a red fox"
	}
	return JobSpec{Model: TinyPreset, Width: 128, Height: 128, Steps: 2, ImagesPerPrompt: 2, ShardSize: 3,
		Prompts: PromptSource{Inline: prompts}, Output: OutputSpec{URL: "/out"}}
}

// gangOf is rank of a tp:2 gang leased like coordinator/gang.go does.
func gangOf(rank int) Assignment {
	s := inlineSpec(4)
	s.Parallel = "tp:2"
	a := leased(s, 1)
	a.Rank, a.Ranks, a.Group, a.Peers = rank, 2, GroupName(a.Task.TaskKey, 1), []string{"gpu-1", "gpu-2"}
	return a
}

func TestAssignmentCheckValid(t *testing.T) {
	file := fileSpec(5000, &PromptIndex{Size: 1 << 20, Stride: 1024, Offsets: []int64{0, 100, 200, 300, 400}})
	file.ShardSize = 64
	cases := map[string]Assignment{
		"inline, first shard":    leased(inlineSpec(10), 0),
		"inline, a later shard":  leased(inlineSpec(10), 5),
		"inline, the last shard": leased(inlineSpec(10), 6), // samples [18, 20)
		"file with an index":     leased(file, 70),          // rows 4480.., index entry 4
		"gang rank 0":            gangOf(0),
		"gang rank 1":            gangOf(1),
	}
	noPeers := gangOf(1)
	noPeers.Peers = nil
	cases["gang without peers"] = noPeers
	for name, a := range cases {
		if err := a.Check(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAssignmentCheck names the field and value of each problem.
func TestAssignmentCheck(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Assignment)
		field string
		value string // a part of the field's value
	}{
		{"huge range (makeslice panic)", func(a *Assignment) { a.Spec.ImagesPerPrompt, a.Task.End = 1<<55, 1<<62 }, "spec.images_per_prompt", "36028797018963968"},
		{"shard larger than any spec allows", func(a *Assignment) { a.Task.End = a.Task.Start + MaxShardSize + 1 }, "task.end", "[3, 100004)"},
		{"end past the job", func(a *Assignment) { a.Task.End = 21 }, "task.end", "21"},
		{"empty range", func(a *Assignment) { a.Task.End = a.Task.Start }, "task.start", "[3, 3)"},
		{"negative start", func(a *Assignment) { a.Task.Start = -1 }, "task.start", "-1"},
		{"start before the inline rows", func(a *Assignment) { a.Task.Start = 0 }, "task.start", "0"},
		{"bad job id", func(a *Assignment) { a.Task.Job = "../x" }, "task.job", "../x"},
		{"negative shard", func(a *Assignment) { a.Task.Shard = -3 }, "task.shard", "-3"},
		{"attempt 0", func(a *Assignment) { a.Task.Attempt = 0 }, "task.attempt", "0"},
		{"huge width", func(a *Assignment) { a.Spec.Width = 1 << 20 }, "spec.width", "1048576"},
		{"huge steps", func(a *Assignment) { a.Spec.Steps = 1 << 30 }, "spec.steps", "1073741824"},
		{"no output", func(a *Assignment) { a.Spec.Output.URL = "" }, "spec.output.url", ""},
		{"negative inline start", func(a *Assignment) { a.Spec.Prompts.InlineStart = -1 }, "spec.prompts.inline_start", "-1"},
		{"inline start past the rows", func(a *Assignment) { a.Spec.Prompts.InlineStart = MaxRows }, "spec.prompts.inline_start", "68719476736"},
		{"rank without a gang", func(a *Assignment) { a.Rank = 1 }, "rank", "1"},
		{"negative ranks", func(a *Assignment) { a.Ranks = -1 }, "ranks", "-1"},
		{"peers without a gang", func(a *Assignment) { a.Peers = []string{"gpu-1"} }, "peers", "1"},
		{"a gang the spec has no plan for", func(a *Assignment) { a.Ranks, a.Group = 2, "g" }, "ranks", "2"},
	}
	gang := []struct {
		name  string
		edit  func(*Assignment)
		field string
		value string
	}{
		{"huge ranks", func(a *Assignment) { a.Ranks = 1 << 40 }, "ranks", "1099511627776"},
		{"rank past the ranks", func(a *Assignment) { a.Rank = 2 }, "rank", "2"},
		{"negative rank", func(a *Assignment) { a.Rank = -1 }, "rank", "-1"},
		{"no group", func(a *Assignment) { a.Group = "" }, "group", `""`},
		{"group with a wildcard", func(a *Assignment) { a.Group = "j.>" }, "group", `"j.>"`},
		{"peers of another size", func(a *Assignment) { a.Peers = a.Peers[:1] }, "peers", "1"},
		{"bad peer", func(a *Assignment) { a.Peers[1] = "a b" }, "peers[1]", `"a b"`},
		{"ranks not the plan's", func(a *Assignment) { a.Spec.Parallel = "tp:4" }, "ranks", "2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := leased(inlineSpec(10), 1) // samples [3, 6), inline rows from 1
			c.edit(&a)
			checkField(t, a.Check(), c.field, c.value)
		})
	}
	for _, c := range gang {
		t.Run(c.name, func(t *testing.T) {
			a := gangOf(1)
			c.edit(&a)
			checkField(t, a.Check(), c.field, c.value)
		})
	}
}

func checkField(t *testing.T, err error, field, value string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeBadRequest {
		t.Fatalf("got %v, want a bad_request *Error", err)
	}
	i := slices.IndexFunc(pe.Fields, func(f FieldError) bool { return f.Field == field })
	if i < 0 || !strings.Contains(pe.Fields[i].Value, value) || !strings.Contains(err.Error(), field) {
		t.Fatalf("got %v (%+v), want field %s with value %s", err, pe.Fields, field, value)
	}
}

// FuzzAssignmentCheck: an assignment that passes Check is bounded the way
// the node's executor and gang transport rely on (prompt rows sized by
// the sample range, per-rank slices by Ranks), and an error is a
// bad_request *Error.
func FuzzAssignmentCheck(f *testing.F) {
	for _, a := range []Assignment{leased(inlineSpec(10), 0), leased(inlineSpec(10), 6), gangOf(1),
		leased(fileSpec(5000, &PromptIndex{Size: 1 << 20, Stride: 1024, Offsets: []int64{0, 1, 2, 3, 4}}), 70)} {
		b, err := json.Marshal(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"task":{"job":"j1","shard":0,"start":0,"end":4611686018427387904,"attempt":1},` +
		`"spec":{"model":"sana-tiny","images_per_prompt":36028797018963968,"prompts":{"inline":["a","b"]},"output":{"url":"/o"}}}`))
	f.Add([]byte(`{"task":{"job":"j1","shard":0,"start":0,"end":2,"attempt":1},"ranks":1099511627776,"rank":3,"group":"g",` +
		`"spec":{"model":"sana-tiny","parallel":"tp:2","prompts":{"inline":["a"]},"output":{"url":"/o"}}}`))
	f.Add([]byte(`{"task":{"job":"j1","shard":0,"start":-5,"end":-1,"attempt":0},"spec":{"model":"sana-tiny","width":99999,` +
		`"steps":1000000,"prompts":{"inline":["a"],"inline_start":-9},"output":{"url":"/o"}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Assignment
		if json.Unmarshal(data, &a) != nil {
			return
		}
		err := a.Check()
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeBadRequest || len(pe.Fields) == 0 {
				t.Fatalf("error %v is not a bad_request *Error naming a field", err)
			}
			return
		}
		s, k := a.Spec, a.Task
		if k.Start < 0 || k.End <= k.Start || k.End-k.Start > MaxShardSize || k.End > s.Samples() || k.Attempt < 1 ||
			s.ImagesPerPrompt > MaxImagesPerPrompt || s.Width > MaxImageSide || s.Height > MaxImageSide || s.Steps > MaxSteps ||
			a.Ranks > MaxParallelDegree || a.Rank < 0 || a.Rank >= max(a.Ranks, 1) ||
			len(a.Peers) > 0 && len(a.Peers) != a.Ranks || CheckJobID(k.Job) != nil {
			t.Fatalf("accepted %+v", a)
		}
	})
}
