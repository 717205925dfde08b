// Package mono stamps moments as int64 nanoseconds on the monotonic
// clock, for values kept in atomics. A stored UnixNano read back with
// time.Unix(0, n) is a wall time: a wall clock stepped by NTP, or a VM
// resumed from a pause, would make an idle or stall check fire at once
// (or never), and abort work that is fine.
package mono

import "time"

// Clock stamps moments by the time elapsed since it was made. Its zero
// value measures from the zero time, by the wall clock: use New.
type Clock struct{ start time.Time }

// New returns a Clock that starts now, on the monotonic clock.
func New() Clock { return Clock{start: time.Now()} }

// Now is the time since New, at least 1 (so 0 can mean "never").
func (c Clock) Now() int64 { return max(int64(time.Since(c.start)), 1) }

// Since is the time elapsed since stamp, a value of Now.
func (c Clock) Since(stamp int64) time.Duration { return time.Duration(c.Now() - stamp) }
