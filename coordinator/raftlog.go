package coordinator

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// msgElection is what raft logs (as a warning) when a follower heard from
// no leader within the heartbeat timeout and stands for election.
const msgElection = "heartbeat timeout reached, starting election"

// hclogFor routes raft's hclog output (warnings and up) into slog, each
// record at its own level with raft's key/value pairs as attributes.
// soleVoter (nil: never) reports whether the Raft configuration has
// exactly one voter: such a cluster (sanafarm dev, a one-voter
// coordinator) starts every run with a heartbeat timeout and elects
// itself, so msgElection is logged at info there; with several voters it
// stays a warning (a leader that went quiet).
func hclogFor(l *slog.Logger, soleVoter func() bool) hclog.Logger {
	// The intercept logger's own output is discarded: the sink below is
	// the only writer. Its level (Warn) is what raft's IsDebug and the
	// like report, so raft builds no debug messages for nothing.
	hl := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: io.Discard})
	hl.RegisterSink(&slogSink{log: l.With("component", "raft"), soleVoter: soleVoter})
	return hl
}

// slogSink is an hclog.SinkAdapter writing to slog.
type slogSink struct {
	log       *slog.Logger
	soleVoter func() bool
}

// Accept receives every record of the intercept logger (sinks are not
// filtered by its level): those under Warn are dropped, as before.
func (s *slogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	if level < hclog.Warn || level == hclog.Off {
		return
	}
	lvl, attrs := slog.LevelWarn, hclogArgs(args)
	if level >= hclog.Error {
		lvl = slog.LevelError
	}
	if level == hclog.Warn && msg == msgElection && s.soleVoter != nil && s.soleVoter() {
		lvl = slog.LevelInfo
		attrs = append(attrs, slog.Int("voters", 1))
	}
	if name != "" && name != "raft" {
		attrs = append(attrs, slog.String("logger", name))
	}
	s.log.Log(context.Background(), lvl, msg, attrs...)
}

// hclogArgs makes hclog's alternating key/value pairs slog attributes:
// keys that are not strings are printed, and a lone trailing value is
// kept under "EXTRA_VALUE_AT_END" (hclog's own name for it).
func hclogArgs(args []any) []any {
	out := make([]any, 0, len(args)/2+1)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, slog.Any("EXTRA_VALUE_AT_END", args[i]))
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		out = append(out, slog.Any(key, args[i+1]))
	}
	return out
}

// soleVoter reports whether this server's Raft configuration has exactly
// one voter (false before Raft runs or when it cannot be read).
func (s *Server) soleVoter() bool {
	r := s.getRaft()
	if r == nil {
		return false
	}
	f := r.GetConfiguration() // answered from a copy, never by raft's main loop
	if f.Error() != nil {
		return false
	}
	n := 0
	for _, v := range f.Configuration().Servers {
		if v.Suffrage == raft.Voter {
			n++
		}
	}
	return n == 1
}
