package coordinator

import (
	"fmt"
	"strconv"

	"github.com/dustin/go-humanize"

	"github.com/sanafarm/sanafarm/internal/diskroom"
	"github.com/sanafarm/sanafarm/protocol"
)

// A coordinator's Raft log and snapshots live on its data dir's disk. The
// state is bounded (--max-job-bytes), but the disk is shared with the
// system (journald, package caches, a node in dev mode), and Raft keeps
// thousands of trailing entries whatever their size: a disk that fills
// makes Raft fail its writes, the leader steps down, and no voter can
// commit — leases, progress and completions stop until someone frees
// space. So the leader refuses the one large writer, submits, while its
// data disk would keep less than Config.MinDataFree, naming the disk, what
// is free and what to do; running jobs go on (their entries are small).
// Every coordinator exports its free space
// (sanafarm_coordinator_data_free_bytes, alert SanafarmCoordinatorDiskLow):
// the leader sees only its own disk.

// DefaultMinDataFree is the free space a coordinator's data disk keeps
// before submits are refused: room for Raft to write a snapshot of a full
// state (DefaultMaxJobBytes of specs) and thousands of log entries.
const DefaultMinDataFree = 1 << 30

// dataFree is the free space on the data dir's disk.
func (s *Server) dataFree() (int64, error) {
	if s.cfg.diskFree != nil {
		return s.cfg.diskFree(s.cfg.DataDir)
	}
	return diskroom.Free(s.cfg.DataDir)
}

// checkDataDisk refuses a submit of need bytes when the data disk would
// keep less than MinDataFree. A disk whose free space cannot be read is
// let through: the check guards against a full disk, it must not become
// the reason nothing can be submitted.
func (s *Server) checkDataDisk(need int64) error {
	if s.cfg.MinDataFree < 0 {
		return nil
	}
	free, err := s.dataFree()
	if err != nil {
		s.log.Warn("reading the data dir's free space", "dir", s.cfg.DataDir, "err", err)
		return nil
	}
	if free-need >= s.cfg.MinDataFree {
		return nil
	}
	return &protocol.Error{Code: protocol.CodeInsufficientStorage,
		Message: fmt.Sprintf("the leader's data disk (%s) has %s free, less than the %s it keeps for the Raft log "+
			"(--min-data-free) once this job (%s) is stored: free space on that disk or grow it; running jobs go on",
			s.cfg.DataDir, humanize.IBytes(uint64(max(free, 0))), humanize.IBytes(uint64(s.cfg.MinDataFree)), humanize.IBytes(uint64(max(need, 0)))),
		Fields: []protocol.FieldError{{Field: "job", Value: strconv.FormatInt(need, 10) + " bytes",
			Problem: "the coordinator's data disk is nearly full"}}}
}
