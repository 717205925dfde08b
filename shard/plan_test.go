package shard

import "testing"

func TestParsePlan(t *testing.T) {
	for in, want := range map[string]Plan{"tp:2": {TP, 2}, "sp:4": {SP, 4}, "cfg:2": {CFG, 2}} {
		got, err := ParsePlan(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParsePlan(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "tp", "tp:0", "dp:2", "sp:x"} {
		if _, err := ParsePlan(bad); err == nil {
			t.Errorf("ParsePlan(%q): no error", bad)
		}
	}
	if err := (Plan{TP, 3}).Check(sana1600M()); err == nil {
		t.Error("TP 3 accepted for 70 heads")
	}
}
