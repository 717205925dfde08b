package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// ev renders one test2json line.
func ev(action, test, output string) string {
	b, _ := json.Marshal(event{Action: action, Package: "p", Test: test, Output: output})
	return string(b)
}

func TestDigest(t *testing.T) {
	cases := []struct {
		name       string
		lines      []string
		failed     bool
		shows, not []string
	}{
		{"all pass", []string{ev("run", "TestA", ""), ev("output", "TestA", "fine\n"), ev("pass", "TestA", ""),
			ev("pass", "", "")}, false, nil, []string{"testdigest"}},
		{"leaf failure shown, parents not", []string{
			ev("run", "TestC", ""), ev("run", "TestC/s", ""), ev("run", "TestC/s/run1", ""),
			ev("output", "TestC/s/run1", "ok run\n"), ev("pass", "TestC/s/run1", ""),
			ev("run", "TestC/s/run2", ""), ev("output", "TestC/s/run2", "x_test.go:9: shard 3 failed: lease expired\n"),
			ev("fail", "TestC/s/run2", ""), ev("fail", "TestC/s", ""), ev("output", "TestC", "table\n"),
			ev("fail", "TestC", ""), ev("fail", "", "")},
			true, []string{"p TestC/s/run2 FAILED", "shard 3 failed: lease expired"}, []string{"ok run", "p TestC FAILED", "p TestC/s FAILED"}},
		{"a test cut off by a timeout", []string{ev("run", "TestT", ""), ev("output", "TestT", "waiting\n"),
			ev("output", "", "panic: test timed out\n"), ev("fail", "", "")},
			true, []string{"p TestT DID NOT FINISH", "waiting"}, nil},
		{"nothing passed", []string{"# p", "x.go:1: syntax error"}, true, []string{"no package passed"}, nil},
		{"build failure", []string{ev("build-output", "", "x.go:1: undefined: y\n"), ev("build-fail", "", ""),
			ev("pass", "", "")}, true, nil, nil},
		{"package failure outside any test", []string{ev("output", "", "x.go:1: undefined: y\n"),
			ev("output", "", "FAIL\tp [build failed]\n"), ev("fail", "", "")},
			true, []string{"p FAILED, its own output", "undefined: y"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDigest(60)
			var echoed strings.Builder
			for _, l := range c.lines {
				echoed.WriteString(d.add(l))
			}
			var rep strings.Builder
			if got := d.report(&rep); got != c.failed {
				t.Fatalf("failed = %v, want %v\n%s", got, c.failed, rep.String())
			}
			for _, s := range c.shows {
				if !strings.Contains(rep.String(), s) {
					t.Errorf("digest lacks %q:\n%s", s, rep.String())
				}
			}
			for _, s := range c.not {
				if strings.Contains(rep.String(), s) {
					t.Errorf("digest has %q:\n%s", s, rep.String())
				}
			}
		})
	}
}

func TestDigestEchoesAndBoundsTail(t *testing.T) {
	d := newDigest(3)
	var echoed strings.Builder
	echoed.WriteString(d.add(ev("run", "TestL", "")))
	for i := range maxTail + 50 {
		echoed.WriteString(d.add(ev("output", "TestL", strings.Repeat("x", i%7)+"\n")))
	}
	echoed.WriteString(d.add(ev("fail", "TestL", "")))
	if n := strings.Count(echoed.String(), "\n"); n != maxTail+50 {
		t.Errorf("echoed %d lines, want %d", n, maxTail+50)
	}
	if n := len(d.out["p TestL"]); n != maxTail {
		t.Errorf("kept %d lines, want the bound %d", n, maxTail)
	}
	var rep strings.Builder
	d.report(&rep)
	if !strings.Contains(rep.String(), "(last 3 lines)") {
		t.Errorf("digest does not show 3 lines:\n%s", rep.String())
	}
}

// FuzzDigest: any stream is echoed without a panic, and the verdict is a
// failure unless some package passed.
func FuzzDigest(f *testing.F) {
	f.Add(ev("run", "TestA", "") + "\n" + ev("pass", "", ""))
	f.Add("{\"Action\":\"output\",\"Test\":\"T\",\"Output\":\"\\n\"}\nnot json")
	f.Fuzz(func(t *testing.T, s string) {
		d := newDigest(5)
		for _, l := range strings.Split(s, "\n") {
			d.add(l)
		}
		var rep strings.Builder
		if failed := d.report(&rep); !failed && !d.passed {
			t.Fatal("no package passed but the digest says the run passed")
		}
	})
}

func TestHeadlines(t *testing.T) {
	lines := []string{"    a_test.go:1: first", "        more of first", "==== node log:", "    b_test.go:22: second",
		"\tc_test.go:3: third", "not an entry: x.go:1: y"}
	got := strings.Join(headlines(lines, 2), "|")
	if want := "    b_test.go:22: second|\tc_test.go:3: third"; got != want {
		t.Errorf("headlines = %q, want %q", got, want)
	}
	if got := headlines(lines, 10); len(got) != 3 {
		t.Errorf("headlines(10) = %q, want the 3 entries", got)
	}
}
