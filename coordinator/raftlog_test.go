package coordinator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sanafarm/sanafarm/internal/syncbuf"
)

// TestHclogFor: raft's records reach slog at their own level with their
// key/value pairs; the election a one-voter cluster starts every run is
// info, not a warning, while it stays a warning with several voters.
func TestHclogFor(t *testing.T) {
	type rec struct {
		level, msg string
		attrs      map[string]any
	}
	cases := []struct {
		name      string
		soleVoter func() bool
		log       func(l hclog.Logger)
		want      []rec // nil: nothing logged
	}{
		{"election, one voter", func() bool { return true },
			func(l hclog.Logger) { l.Warn(msgElection, "last-leader-addr", "", "last-leader-id", "") },
			[]rec{{"INFO", msgElection, map[string]any{"voters": 1.0, "last-leader-id": "", "component": "raft"}}}},
		{"election, several voters", func() bool { return false },
			func(l hclog.Logger) { l.Warn(msgElection, "last-leader-addr", "10.0.0.2:7000") },
			[]rec{{"WARN", msgElection, map[string]any{"last-leader-addr": "10.0.0.2:7000"}}}},
		{"election, voters unknown", nil,
			func(l hclog.Logger) { l.Warn(msgElection) },
			[]rec{{"WARN", msgElection, nil}}},
		{"other warning, one voter", func() bool { return true },
			func(l hclog.Logger) { l.Warn("failed to contact", "server-id", "c2") },
			[]rec{{"WARN", "failed to contact", map[string]any{"server-id": "c2"}}}},
		{"error", func() bool { return true },
			func(l hclog.Logger) { l.Error("failed to appendEntries", "error", "boom") },
			[]rec{{"ERROR", "failed to appendEntries", map[string]any{"error": "boom"}}}},
		{"info and debug dropped", func() bool { return true },
			func(l hclog.Logger) { l.Info("entering leader state"); l.Debug("x") }, nil},
		{"named sub-logger", nil,
			func(l hclog.Logger) { l.Named("snapshot").Warn("slow", 7) },
			[]rec{{"WARN", "slow", map[string]any{"logger": "raft.snapshot", "EXTRA_VALUE_AT_END": 7.0}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c.log(hclogFor(l, c.soleVoter))
			var got []rec
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if line == "" {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				got = append(got, rec{level: m["level"].(string), msg: m["msg"].(string), attrs: m})
			}
			if len(got) != len(c.want) {
				t.Fatalf("logged %d records, want %d: %s", len(got), len(c.want), buf.String())
			}
			for i, w := range c.want {
				if got[i].level != w.level || got[i].msg != w.msg {
					t.Errorf("record %d: %s %q, want %s %q", i, got[i].level, got[i].msg, w.level, w.msg)
				}
				for k, v := range w.attrs {
					if got[i].attrs[k] != v {
						t.Errorf("record %d: %s = %v, want %v (%s)", i, k, got[i].attrs[k], v, buf.String())
					}
				}
			}
		})
	}
}

// TestElectionLogLevel: a real one-voter coordinator (sanafarm dev) logs
// its first election at info and no raft warning; a three-voter one
// still warns about it.
func TestElectionLogLevel(t *testing.T) {
	for _, c := range []struct {
		voters int
		want   string // level of msgElection
	}{{1, "INFO"}, {3, "WARN"}} {
		t.Run(fmt.Sprintf("%d voters", c.voters), func(t *testing.T) {
			var buf syncbuf.Buffer
			cl := startCluster(t, c.voters, func(cfg *Config) {
				cfg.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			})
			cl.leader(10 * time.Second)
			levels := map[string]int{}
			for _, line := range strings.Split(buf.String(), "\n") {
				var m struct{ Level, Msg, Component string }
				if json.Unmarshal([]byte(line), &m) != nil {
					continue
				}
				if m.Msg == msgElection {
					levels[m.Level]++
				}
				if c.voters == 1 && m.Component == "raft" && m.Level != "INFO" {
					t.Errorf("one voter: raft logged %s %q", m.Level, m.Msg)
				}
			}
			if levels[c.want] == 0 || len(levels) != 1 {
				t.Errorf("%q logged at %v, want only %s:\n%s", msgElection, levels, c.want, buf.String())
			}
		})
	}
}
