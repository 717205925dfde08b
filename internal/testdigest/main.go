// Command testdigest reads `go test -json` on stdin, prints the tests'
// output as plain `go test -v` would, and ends with a digest: the last
// lines of every failed test that has no failed subtest (and of every
// test still running when the stream ended, as after a -timeout panic).
//
// Why: CI keeps only the tail of a long log, and a chaos run prints its
// results table after all the scenarios, so the message of a failed run
// scrolled out of what CI kept (docs/reliability.md, "Running it").
// The exit status is 1 when anything failed or no package passed, so a
// Makefile needs no pipefail.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// maxTail bounds what the digest keeps of one test, so a chatty test
// cannot grow this process without bound.
const maxTail = 400

// digest follows the tests of one stream.
type digest struct {
	tail     int                 // lines shown per test
	out      map[string][]string // test key → its last output lines
	state    map[string]string   // test key → "run", "pass", "fail", "skip"
	order    []string            // test keys in start order
	failed   bool                // some package failed
	passed   bool                // some package passed
	pkgFails []string            // packages that failed, in order
	nonJSONs []string            // lines that were not events (build errors of older toolchains)
}

func newDigest(tail int) *digest {
	return &digest{tail: tail, out: map[string][]string{}, state: map[string]string{}}
}

func key(e event) string { return e.Package + " " + e.Test }

// add takes one line of the stream and returns the text to echo.
func (d *digest) add(line string) string {
	var e event
	if err := json.Unmarshal([]byte(line), &e); err != nil || e.Action == "" {
		d.nonJSONs = append(d.nonJSONs, line)
		return line + "\n"
	}
	switch e.Action {
	case "output", "build-output": // a package's own output (build errors, a panic) under "pkg "
		d.keep(key(e), e.Output)
		return e.Output
	case "run":
		d.order = append(d.order, key(e))
		d.state[key(e)] = "run"
	case "pass", "fail", "skip":
		if e.Test == "" {
			if e.Action == "fail" {
				d.failed = true
				d.pkgFails = append(d.pkgFails, e.Package)
			}
			d.passed = d.passed || e.Action == "pass"
		} else {
			d.state[key(e)] = e.Action
		}
	case "build-fail":
		d.failed = true
	}
	return ""
}

func (d *digest) keep(k, text string) {
	lines := append(d.out[k], strings.TrimRight(text, "\n"))
	if len(lines) > maxTail {
		lines = lines[len(lines)-maxTail:]
	}
	d.out[k] = lines
}

// report writes the digest and says whether the run failed.
func (d *digest) report(w io.Writer) (failed bool) {
	var show []string
	for _, k := range d.order {
		if st := d.state[k]; st == "run" || (st == "fail" && !d.failedChild(k)) {
			show = append(show, k)
		}
	}
	failed = d.failed || !d.passed || len(show) > 0
	if !failed {
		return false
	}
	fmt.Fprintf(w, "\n==== testdigest: %d failed or unfinished test(s)\n", len(show))
	for _, k := range show {
		lines := d.out[k]
		if len(lines) > d.tail {
			lines = lines[len(lines)-d.tail:]
		}
		what := "FAILED"
		if d.state[k] == "run" {
			what = "DID NOT FINISH"
		}
		fmt.Fprintf(w, "---- %s %s (last %d lines)\n%s\n", k, what, len(lines), strings.Join(lines, "\n"))
	}
	for _, p := range d.pkgFails { // a build failure, a panic outside a test, a timeout
		if lines := d.out[p+" "]; len(lines) > 0 && !slices.ContainsFunc(show, func(k string) bool { return strings.HasPrefix(k, p+" ") }) {
			fmt.Fprintf(w, "---- %s FAILED, its own output (last %d lines)\n%s\n", p, min(len(lines), d.tail),
				strings.Join(lines[max(len(lines)-d.tail, 0):], "\n"))
		}
	}
	// The first line of each test log entry, last of all: a failure's
	// message is often followed by pages of process logs.
	for _, k := range show {
		fmt.Fprintf(w, "---- %s: its last log entries, first lines only\n%s\n", k, strings.Join(headlines(d.out[k], 20), "\n"))
	}
	if !d.passed && len(show) == 0 {
		fmt.Fprintf(w, "no package passed; %d line(s) were not test events\n", len(d.nonJSONs))
	}
	return true
}

// entry matches the first line of a t.Log entry ("    x_test.go:93: ...").
var entry = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: `)

// headlines returns the first lines of the last n log entries of lines.
func headlines(lines []string, n int) []string {
	var hs []string
	for _, l := range lines {
		if entry.MatchString(l) {
			hs = append(hs, l)
		}
	}
	return hs[max(len(hs)-n, 0):]
}

// failedChild reports whether a subtest of k failed (then k's own
// failure is only the sum of its children's).
func (d *digest) failedChild(k string) bool {
	return slices.ContainsFunc(d.order, func(c string) bool {
		return strings.HasPrefix(c, k+"/") && d.state[c] == "fail"
	})
}

func main() {
	tail := flag.Int("tail", 60, "output lines shown for each failed test (at most 400)")
	flag.Parse()
	d := newDigest(min(max(*tail, 1), maxTail))
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // a test may print a long line; longer ones end the scan
	for sc.Scan() {
		fmt.Print(d.add(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "testdigest: reading the test stream: %v\n", err)
		d.failed = true
	}
	if d.report(os.Stdout) {
		os.Exit(1)
	}
}
