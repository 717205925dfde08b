package protocol

import (
	"strconv"
	"strings"
	"testing"
)

func TestHasFeature(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{FeatureRequeue, true},
		{"other," + FeatureRequeue, true},
		{" other , " + FeatureRequeue + " ", true},
		{"", false},
		{"other", false},
		{FeatureRequeue + "-v2", false},
		{strings.Repeat("x,", MaxFeatureValue) + FeatureRequeue, false}, // over the bound: ignored whole
	} {
		if got := HasFeature([]byte(tc.value), FeatureRequeue); got != tc.want {
			t.Errorf("HasFeature(%.40q) = %v, want %v", tc.value, got, tc.want)
		}
	}
	if !HasFeature([]byte(strings.Join(Features, ",")), FeatureRequeue) {
		t.Error("this release does not announce its own feature")
	}
}

// FuzzHasFeature: etcd values are outside data; any value answers without
// panicking, and a value listing the feature as an item says so.
func FuzzHasFeature(f *testing.F) {
	f.Add([]byte(FeatureRequeue), "a")
	f.Add([]byte("a,,b"), "")
	f.Fuzz(func(t *testing.T, value []byte, other string) {
		got := HasFeature(value, FeatureRequeue)
		if len(value) > MaxFeatureValue && got {
			t.Fatal("a value over the bound was read")
		}
		if strings.Contains(other, ",") || strings.TrimSpace(other) != other {
			return
		}
		if v := []byte(other + "," + FeatureRequeue); len(v) <= MaxFeatureValue && !HasFeature(v, FeatureRequeue) {
			t.Fatalf("%q not found in %q", FeatureRequeue, v)
		}
	})
}

func TestCountedFailures(t *testing.T) {
	f := func(noFault bool) Failure { return Failure{Attempt: 1, Node: "n", Reason: "r", NoFault: noFault} }
	for _, tc := range []struct {
		name             string
		task             Task
		counted, noFault int
	}{
		{"none", Task{}, 0, 0},
		{"counted only", Task{Failures: []Failure{f(false), f(false)}}, 2, 0},
		{"mixed", Task{Failures: []Failure{f(true), f(false), f(true)}}, 1, 2},
		{"before a retry", Task{Failures: []Failure{f(false), f(true), f(false)}, RetryBase: 2}, 1, 0},
		{"retry base past the end", Task{Failures: []Failure{f(false)}, RetryBase: 5}, 0, 0},
		{"negative retry base", Task{Failures: []Failure{f(false)}, RetryBase: -1}, 1, 0},
	} {
		if c, n := tc.task.CountedFailures(), tc.task.NoFaultFailures(); c != tc.counted || n != tc.noFault {
			t.Errorf("%s: counted %d, no fault %d; want %d, %d", tc.name, c, n, tc.counted, tc.noFault)
		}
	}
}

// TestCommandFeatures: each gated command names a feature this release
// knows and announces, flagged or not; the others name none.
func TestCommandFeatures(t *testing.T) {
	gated := map[CommandType]string{CmdTaskRequeue: FeatureRequeue, CmdJobSubmitBounded: FeatureJobBytes, CmdTaskNodeFault: FeatureNodeFault}
	for typ := range CommandType(IgnoreUnknown) {
		want := gated[typ]
		if got := typ.Feature(); got != want {
			t.Errorf("%v: feature %q, want %q", typ, got, want)
		}
		if got := (typ | IgnoreUnknown).Feature(); got != want {
			t.Errorf("%v flagged: feature %q, want %q", typ, got, want)
		}
		if want != "" && !KnownFeature(want) {
			t.Errorf("%v: feature %q not known", typ, want)
		}
	}
	if KnownFeature("lease-fencing") || KnownFeature("") {
		t.Error("an unknown feature is known")
	}
}

func TestParseDataDisk(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int64
		ok    bool
	}{
		{"0", 0, true},
		{"1073741824", 1 << 30, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"", 0, false},
		{"-1", 0, false},
		{" 5", 0, false},
		{"5 GiB", 0, false},
		{"9223372036854775808", 0, false},
		{strings.Repeat("0", MaxDataDiskValue) + "1", 0, false}, // over the bound
	} {
		got, ok := ParseDataDisk([]byte(tc.value))
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseDataDisk(%.40q) = %d, %v; want %d, %v", tc.value, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseDataDisk: etcd values are outside data; any value answers
// without panicking, and what it accepts is a bounded, non-negative
// decimal that reads back the same.
func FuzzParseDataDisk(f *testing.F) {
	f.Add([]byte("1073741824"))
	f.Add([]byte("-0"))
	f.Add([]byte("+7"))
	f.Fuzz(func(t *testing.T, value []byte) {
		n, ok := ParseDataDisk(value)
		if !ok {
			return
		}
		if n < 0 || len(value) > MaxDataDiskValue {
			t.Fatalf("accepted %q as %d", value, n)
		}
		if m, ok := ParseDataDisk(strconv.AppendInt(nil, n, 10)); !ok || m != n {
			t.Fatalf("%d does not read back: %d %v", n, m, ok)
		}
	})
}
