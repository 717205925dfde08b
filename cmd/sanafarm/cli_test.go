package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestExitCodes checks the exit status README.md promises ("Exit codes":
// 0 success, 1 the operation failed, 2 a usage error) on every command's
// failure paths that need no network: each command at least once with a
// usage error and, where it has one, once with a failed operation (an
// unreachable coordinator, a missing file, an unknown model).
func TestExitCodes(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("SANAFARM_CACHE", filepath.Join(tmp, "cache"))
	t.Setenv("HF_HOME", filepath.Join(tmp, "hf"))
	t.Setenv("HF_HUB_CACHE", filepath.Join(tmp, "hf", "hub"))
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("SANAFARM_NATS_URL", "")
	const down = "http://127.0.0.1:1" // nothing listens on port 1
	// refuse answers every request "not found" (writes to an unreachable
	// coordinator are retried for seconds: one case is enough).
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(protocol.Errorf(protocol.CodeNotFound, "not found"))
	}))
	defer refuse.Close()
	no := refuse.URL
	nodes := fakeNodeCoordinator(t, nil).URL // drain_test.go: applies node actions, knows no node
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(tmp, "out")
	coord := []string{"coordinator", "--data", filepath.Join(tmp, "raft"), "--raft-bind", "127.0.0.1:0", "--log-level", "error"}
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout or stderr
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"frobnicate"}, 2, "Run 'sanafarm --help' for the commands"},
		{[]string{"models", "frobnicate"}, 2, "Run 'sanafarm models --help'"},
		{[]string{"status", "--bogus"}, 2, "unknown flag: --bogus"},

		{[]string{"version"}, 0, "backends: cpu"},
		{[]string{"--version"}, 0, "version: " + buildVersion() + "\n"},
		{[]string{"version", "extra"}, 2, `unknown command "extra" for "sanafarm version"`},

		{[]string{"golden"}, 2, "requires at least 1 arg"},
		{[]string{"golden", "--precision", "fp16", file}, 2, "--precision"},
		{[]string{"golden", filepath.Join(tmp, "nope")}, 1, "not a case folder (stat " + filepath.Join(tmp, "nope") + ": no such file"},
		{[]string{"golden", file}, 1, "not a case folder (a file)"},

		{[]string{"generate", "-p", "x", "-o", "fox.png"}, 2, "images go to --dest"},
		{[]string{"generate", "-p", "x"}, 2, `required flag(s) "dest" not set`},
		{[]string{"generate", "-p", "x", "--dest", dest, "--count", "0"}, 2, "--count 0"},
		{[]string{"generate", "-p", "x", "--dest", dest, "--backend", "tpu"}, 2, "unknown backend"},
		{[]string{"generate", "-p", "x", "--dest", dest, "--sampler", "ddim"}, 2, "unknown sampler"},
		{[]string{"generate", "-p", "x", "--dest", dest, "--lora", filepath.Join(tmp, "none.safetensors")}, 1, "none.safetensors"},
		{[]string{"generate", "-p", "x", "--dest", dest, "--model", "sana-9000"}, 1, `unknown model preset "sana-9000"`},
		{[]string{"generate", "-p", "x", "--dest", dest, "--steps", "-1"}, 2, "--steps -1"},
		{[]string{"generate", "-p", "x", "--dest", dest, "--width", "-64"}, 2, "--width -64"},
		{[]string{"generate", "-p", "x", "--dest", dest, "--strength", "2"}, 2, "--strength 2: want a value in (0, 1]"},
		{[]string{"generate", "-p", "x", "--dest", dest, "--strength", "0.5"}, 2, "needs --init-image"},
		{[]string{"generate", "-p", "x", "--dest", dest, "--no-binning", "--width", "100"}, 2, "multiple of 32"},
		{[]string{"generate", "-p", "x", "-n", "2", "--dest", filepath.Join(tmp, "fox.png")}, 2, "names one PNG file, but 2 images"},
		{[]string{"generate", "-p", "x", "--dest", filepath.Join(file, "fox.png")}, 1, "creating its folder"},
		{[]string{"generate", "-p", "x"}, 2, "Run 'sanafarm generate --help'"},

		{[]string{"models", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"models", "list", "-o", "yaml"}, 2, "want table or json"},
		{[]string{"models", "pull"}, 2, "accepts 1 arg"},
		{[]string{"models", "pull", "sana-9000"}, 1, "unknown model preset"},
		{[]string{"models", "pull", "sana-600m-512"}, 1, "not cached and HF_HUB_OFFLINE is set"},
		{[]string{"models", "push", "sana-tiny"}, 2, "accepts 2 arg"},
		{[]string{"models", "push", "sana-9000", "s3://bucket/models"}, 1, "unknown model preset"},

		{[]string{"dev", "--slots", "0"}, 2, "--slots 0"},
		{[]string{"dev", "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"dev", "--data", file, "--http", "127.0.0.1:0"}, 1, "not a directory"},

		{[]string{"coordinator", "--raft-bind", "127.0.0.1:0"}, 2, `required flag(s) "data" not set`},
		{append(coord, "--peers", "c1"), 2, "--peers entry"},
		{append(coord, "--auto-drain-after", "-1"), 2, "--auto-drain-after -1: want 0 (never) to 100"},
		{append(coord, "--auto-drain-after", "101"), 2, "--auto-drain-after 101"},
		{append(coord, "--min-data-free", "-1"), 2, "--min-data-free -1"},
		{append(coord, "--min-data-free", "1GiB"), 2, `invalid argument "1GiB" for "--min-data-free"`},
		{append(coord, "--trusted-proxies", "10.10.0.0/16,the-balancer"), 2, `--trusted-proxies entry "the-balancer"`},
		{append(coord, "--trusted-proxies", "::/0"), 2, `--trusted-proxies entry "::/0" trusts every address`},
		{append(coord, "--proxy-protocol"), 2, `--proxy-protocol needs --trusted-proxies`},
		{append(coord, "--nats", "nats://127.0.0.1:1"), 1, "connecting to nats"},

		{[]string{"node", "--devices", "first"}, 2, "--devices"},
		{[]string{"node", "--resident", "0"}, 2, "--resident 0"},
		{[]string{"node", "--max-model-bytes", "0"}, 2, "--max-model-bytes 0: want a positive size"},
		{[]string{"node", "--metrics-token", "pas\x00ted"}, 2, "--metrics-token ($SANAFARM_METRICS_TOKEN) has a control character at byte 3"},
		{[]string{"node", "--metrics-token", "pasted\n"}, 2, "--metrics-token ($SANAFARM_METRICS_TOKEN) begins or ends with white space"},
		{[]string{"dev", "--token", " pasted"}, 2, "--token ($SANAFARM_TOKEN) begins or ends with white space"},
		{[]string{"status", "--addr", down, "--token", "pasted "}, 2, "--token ($SANAFARM_TOKEN) begins or ends with white space"},
		{append(coord, "--read-token", "r\tr"), 2, "--read-token ($SANAFARM_READ_TOKEN) has a control character at byte 1"},
		{[]string{"dev", "--max-model-bytes", "-2"}, 2, "--max-model-bytes -2"},
		{[]string{"node", "--nats", "nats://127.0.0.1:1", "--metrics-addr", "", "--log-level", "error"}, 1, "connecting to nats"},

		{[]string{"submit", "--addr", down, "--model", "sana-tiny", "--dest", dest}, 2, "give either --prompts"},
		{[]string{"submit", "--addr", down, "--model", "sana-tiny", "-p", "x", "-o", dest}, 2, "images go to --dest"},
		{[]string{"submit", "--addr", down, "--model", "sana-tiny", "-p", "x"}, 2, `required flag(s) "dest" not set`},
		{[]string{"submit", "--addr", down, "-p", "x", "--dest", dest}, 2, "give --model"},
		{[]string{"submit", "--addr", down, "--model", "sana-tiny", "--prompts", filepath.Join(tmp, "none.txt"), "--dest", dest}, 1, "--prompts " + filepath.Join(tmp, "none.txt") + ": "},
		{[]string{"submit", "--addr", down, "--model", "sana-tiny", "-p", "x", "--dest", dest, "--steps", "-2"}, 2, "--steps -2: want 1.."},
		{[]string{"submit", "--addr", down, "--model", "sana-tiny", "-p", "x", "--dest", dest, "--width", "100"}, 2, "--width 100: must be a multiple of 32"},
		{[]string{"submit", "--addr", down, "--model", "sana-tiny", "-p", "x", "--dest", dest, "--width", "100"}, 2, "Run 'sanafarm submit --help'"},

		{[]string{"status", "--addr", down, "--limit", "-1"}, 2, "--limit -1"},
		{[]string{"status", "--addr", down, "j-a", "j-b"}, 2, "accepts at most 1 arg"},
		{[]string{"status", "--addr", down}, 1, "listing jobs"},
		{[]string{"status", "--addr", down}, 1, "No coordinator listens there"},
		{[]string{"status", "--addr", down, "--state", "bogus"}, 2, `--state "bogus": want queued`},
		{[]string{"status", "--addr", down, "--watch"}, 2, "give its id"},
		{[]string{"status", "--addr", down, "j-a", "--state", "done"}, 2, "--state filters the job list"},
		{[]string{"status", "--bogus"}, 2, "Run 'sanafarm status --help'"},
		{[]string{"status", "--addr", down, "j-a", "-o", "json"}, 1, "reading job"},

		{[]string{"cancel", "--addr", down}, 2, "accepts 1 arg"},
		{[]string{"cancel", "--addr", down, "j-a"}, 1, "cancelling job"},
		{[]string{"cancel", "--addr", no, "j-a"}, 1, "not found"},

		{[]string{"nodes", "--addr", down, "extra"}, 2, "unknown command"},
		{[]string{"nodes", "--addr", down, "--output", "yaml"}, 2, "want table or json"},
		{[]string{"nodes", "--addr", down}, 1, "listing nodes"},

		{[]string{"gpus", "-o", "yaml"}, 2, "want table or json"},
		{[]string{"gpus", "--log-level", "loud"}, 2, "--log-level"},

		{[]string{"pause", "--addr", down}, 2, "accepts 1 arg"},
		{[]string{"pause", "--addr", no, "j-a"}, 1, "pausing job"},
		{[]string{"resume", "--addr", down, "j-a", "j-b"}, 2, "accepts 1 arg"},
		{[]string{"resume", "--addr", no, "j-a"}, 1, "resuming job"},
		{[]string{"retry", "--addr", down, "-o", "xml", "j-a"}, 2, "want table or json"},
		{[]string{"retry", "--addr", no, "j-a"}, 1, "retrying job"},
		{[]string{"priority", "--addr", down, "j-a", "high"}, 2, "want an integer"},
		{[]string{"priority", "--addr", no, "j-a", "3"}, 1, "changing the priority"},
		{[]string{"rm", "--addr", down}, 2, "accepts 1 arg"},
		{[]string{"rm", "--addr", no, "j-a"}, 1, "deleting job"},
		{[]string{"drain", "--addr", down}, 2, "accepts 1 arg"},
		{[]string{"drain", "--addr", no, "n1"}, 1, "draining node"},
		{[]string{"drain", "--addr", nodes, "n1"}, 0, `knows no node "n1"`},
		{[]string{"undrain", "--addr", down, "n1", "n2"}, 2, "accepts 1 arg"},
		{[]string{"undrain", "--addr", no, "n1"}, 1, "undraining node"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := sanafarm(tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q: %s%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

// walk calls f on c and every command below it.
func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// TestFlagValueNames: pflag takes a usage string's first back-quoted word
// as the flag's value name in --help; no flag may render a phrase there
// (--model-mirror once showed "sanafarm models push").
func TestFlagValueNames(t *testing.T) {
	walk(newRoot(io.Discard, io.Discard), func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.ContainsAny(name, " \t") {
				t.Errorf("%s --%s: value name %q", c.CommandPath(), f.Name, name)
			}
		})
	})
}

// TestOutputFlag: -o/--output has one meaning in every command, the output
// format (table or json; kubectl's convention), and every command that
// lists something has it.
func TestOutputFlag(t *testing.T) {
	has := map[string]bool{}
	walk(newRoot(io.Discard, io.Discard), func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if (f.Name == "output") != (f.Shorthand == "o") || (f.Name == "output" && f.Value.Type() != "format") {
				t.Errorf("%s: flag --%s (-%s, %s): -o/--output must be the output format", c.CommandPath(), f.Name, f.Shorthand, f.Value.Type())
			}
			if f.Name == "output" {
				has[c.CommandPath()] = true
			}
		})
	})
	for _, c := range []string{"status", "nodes", "gpus", "models list", "submit", "generate", "cancel", "pause", "resume",
		"retry", "priority", "rm", "drain", "undrain"} {
		if !has["sanafarm "+c] {
			t.Errorf("sanafarm %s has no -o/--output", c)
		}
	}
}

// TestModelsListJSON: models list -o json lists every preset.
func TestModelsListJSON(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"models", "list", "-o", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var list modelList
	if err := json.Unmarshal(stdout.Bytes(), &list); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	found := map[string]modelInfo{}
	for _, m := range list.Models {
		found[m.Name] = m
	}
	if m := found["sana-600m-512"]; m.Repo != "Efficient-Large-Model/Sana_600M_512px_diffusers" || m.Size != 512 || m.Cached {
		t.Errorf("sana-600m-512: %+v", m)
	}
	if _, ok := found["sana-tiny"]; !ok {
		t.Errorf("no sana-tiny in %s", stdout.String())
	}
}
