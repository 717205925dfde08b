package dashboard

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// outputFile serves a job's manifest (/ui/jobs/{id}/manifest.jsonl, a
// download) or one shard's stats (/ui/jobs/{id}/stats/{shard}) from the
// job's output through Config.Open, after the API showed the user the
// job; object stores are not reachable from a browser (s3:// URLs, private
// networks).
func (d *Dashboard) outputFile(w http.ResponseWriter, r *http.Request, s *session) {
	if d.cfg.Open == nil {
		http.NotFound(w, r)
		return
	}
	id := protocol.JobID(r.PathValue("id"))
	ctx, cancel := context.WithTimeout(r.Context(), 10*actionTimeout) // a manifest can be large
	defer cancel()
	det, err := s.api.Job(ctx, id, false, 0, 0)
	if err != nil {
		http.Error(w, describe(err), statusOf(err))
		return
	}
	key, ctype, disposition := storage.ManifestJSONL, "application/x-ndjson", fmt.Sprintf("attachment; filename=%q", string(id)+"-manifest.jsonl")
	if sh := r.PathValue("shard"); sh != "" {
		shard, err := strconv.Atoi(sh)
		if err != nil || shard < 0 || shard >= det.Job.Shards {
			http.Error(w, "no such shard", http.StatusNotFound)
			return
		}
		key, ctype, disposition = storage.StatsKey("", shard), "application/json", "inline"
	}
	rc, err := d.cfg.Open(ctx, det.Job, key)
	if err != nil {
		d.log.Debug("dashboard: output file", "job", id, "key", key, "err", err)
		http.Error(w, "not available (yet)", http.StatusNotFound)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", disposition)
	w.Header().Set("Cache-Control", "private, no-store")
	if _, err := io.Copy(w, rc); err != nil {
		d.log.Debug("dashboard: sending output file", "job", id, "key", key, "err", err)
	}
}
