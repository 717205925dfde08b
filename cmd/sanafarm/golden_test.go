package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestGoldenCommand(t *testing.T) {
	cases := []struct {
		args  []string
		code  int
		lines []string
	}{
		{[]string{"golden", "../../testdata/golden/flow_euler", "../../testdata/golden/sana_transformer"}, 0,
			[]string{"PASS flow_euler max_abs=", "PASS sana_transformer max_abs=", "PASS sana_transformer[bf16] max_abs="}},
		{[]string{"golden", "../../testdata/golden/tokenizer", "../../testdata/golden/torch_randn"}, 0,
			[]string{"PASS tokenizer max_abs=0.000e+00", "PASS torch_randn max_abs="}},
		{[]string{"golden", "--tokenizer", "/nonexistent/tokenizer.json", "../../testdata/golden/tokenizer"}, 1,
			[]string{"FAIL tokenizer error:", "fetch-testdata.sh"}},
		{[]string{"golden", "."}, 1, []string{"FAIL . error: unknown case"}},
		{[]string{"golden", "/nonexistent"}, 1, []string{"FAIL /nonexistent error: not a case folder"}},
		{[]string{"golden"}, 2, nil},
		{[]string{"golden", "--tol", "1e-12", "../../testdata/golden/sana_transformer_v15"}, 1, []string{"FAIL sana_transformer_v15 max_abs="}},
		{[]string{"golden", "--precision", "bf16", "../../testdata/golden/sana_transformer", "../../testdata/golden/dc_ae"}, 0,
			[]string{"SKIP sana_transformer: ", "PASS sana_transformer[bf16_compute] max_abs=", "tol=5e-02", "SKIP dc_ae: "}},
		{[]string{"golden", "--precision", "fp8", "../../testdata/golden/flow_euler"}, 2, nil},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, &out, &errb)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
			for _, l := range c.lines {
				if !strings.Contains(out.String(), l) {
					t.Errorf("stdout lacks %q:\n%s", l, out.String())
				}
			}
		})
	}
}
