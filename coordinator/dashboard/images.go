package dashboard

import (
	"bytes"
	"context"
	"net/http"
	"strconv"

	"github.com/sanafarm/sanafarm/protocol"
)

// thumbs is how many recent shards a job page shows an image of.
const thumbs = 8

// maxSampleIndex bounds the sample a thumbnail URL may ask for.
const maxSampleIndex = 1 << 20

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// image serves one sample's PNG from the job's output, after the API has
// shown the job to this user (their token decides, as for every page).
func (d *Dashboard) image(w http.ResponseWriter, r *http.Request, s *session) {
	if d.cfg.Image == nil {
		http.NotFound(w, r)
		return
	}
	id := protocol.JobID(r.PathValue("id"))
	shard, err1 := strconv.Atoi(r.PathValue("shard"))
	i, err2 := strconv.Atoi(r.PathValue("i"))
	if err1 != nil || err2 != nil || shard < 0 || i < 0 || i >= maxSampleIndex {
		http.Error(w, "bad shard or sample number", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	det, err := s.api.Job(ctx, id, false, 0, 0)
	if err != nil {
		http.Error(w, describe(err), statusOf(err))
		return
	}
	if shard >= det.Job.Shards {
		http.Error(w, "no such shard", http.StatusNotFound)
		return
	}
	png, err := d.cfg.Image(ctx, det.Job, shard, i)
	if err != nil {
		d.log.Debug("dashboard: thumbnail", "job", id, "shard", shard, "sample", i, "err", err)
		http.Error(w, "image not available", http.StatusNotFound)
		return
	}
	if !bytes.HasPrefix(png, pngMagic) { // served as image/png only when it is one
		http.Error(w, "not a PNG", http.StatusUnsupportedMediaType)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(png)
}

// recentShards are the last done shards of a job page, newest (highest)
// first, for its thumbnails.
func recentShards(tasks []taskRow) []int {
	var out []int
	for k := len(tasks) - 1; k >= 0 && len(out) < thumbs; k-- {
		if tasks[k].State == protocol.TaskDone && tasks[k].Result != nil && tasks[k].Result.Images > 0 {
			out = append(out, tasks[k].Shard)
		}
	}
	return out
}
