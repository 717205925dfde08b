package backoff

import "log/slog"

// Streak follows a loop that keeps something up (a registration, a
// session) to say which of its ends are news: the loss of what was up,
// and the first failure of a run of failures. The rest of a run is not,
// so an outage of an hour is one warning, not one a try.
type Streak struct{ failing bool }

// Level records how a try ended — up says it got established first — and
// returns the level to log that end at: warn when it is news, else debug.
func (s *Streak) Level(up bool) slog.Level {
	news := up || !s.failing
	s.failing = !up
	if news {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}
