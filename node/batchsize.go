package node

import (
	"github.com/sanafarm/sanafarm/model/sana"
)

// memReporter is implemented by backends that know their free device
// memory (kernels/cuda: the driver's free memory plus the allocator's
// unused cache).
type memReporter interface {
	MemInfo() (free, total int64, err error)
}

// Batch sizing (docs/performance.md): a GPU is fed the largest batch that
// fits. The per-image estimate takes the larger of the two peaks of a
// request — the DC-AE decoder's last stage (128 channels at full
// resolution, ~6 live float32 tensors incl. the im2col chunk) and the DiT
// forward under CFG (two rows per image, tokens of (W/32)·(H/32), Sana
// 1.6B's width 2240, ~40 width-sized float32 temporaries incl. the Mix-FFN
// and the cross-attention scores) — and only memFraction of the free
// memory is planned, leaving room for the allocator's rounding and the
// text encoder.
const (
	maxAutoBatch = 32
	memFraction  = 0.6
)

// imageBytes estimates one image's peak device memory at w×h with rows
// DiT rows per image (2 under CFG, 3 with PAG's perturbed branch).
func imageBytes(w, h, rows int) int64 {
	pixels := int64(w) * int64(h)
	decode := decodePixels(w, h) * 128 * 4 * 6
	dit := int64(rows) * (pixels / 1024) * 2240 * 4 * 40
	return max(decode, dit)
}

// decodePixels is the area the decoder works on at once: one tile when
// the pipeline decodes w×h in tiles (sana.DefaultDecodeTiling, latents of
// the 32× DC-AE), else the whole image.
func decodePixels(w, h int) int64 {
	t := sana.DefaultDecodeTiling
	if t.Off || max(w, h) <= t.AboveLatent*32 {
		return int64(w) * int64(h)
	}
	edge := t.Tile.TileLatent * 32
	return int64(min(w, edge)) * int64(min(h, edge))
}

// autoBatch is how many images of w×h, rows DiT rows each, fit in free
// bytes (1 … maxAutoBatch).
func autoBatch(free int64, w, h, rows int) int {
	per := imageBytes(max(w, 32), max(h, 32), rows)
	n := int64(float64(free) * memFraction / float64(per))
	return int(min(max(n, 1), maxAutoBatch))
}

// batchSize is the number of images denoised together for requests like
// q: PipelineConfig.BatchSize when set; otherwise, on a backend that
// reports its free memory, the largest batch that fits (autoBatch); else 1
// (the CPU backend gains nothing from larger batches). Images depend only
// on (seed, index), never on the batch (model/sana), so the choice never
// changes the pixels.
func (e *PipelineExecutor) batchSize(q sana.Request) int {
	if e.cfg.BatchSize > 0 {
		return e.cfg.BatchSize
	}
	m, ok := e.cfg.Backend.(memReporter)
	if !ok {
		return 1
	}
	free, _, err := m.MemInfo()
	if err != nil {
		e.log.Warn("reading free device memory for the batch size; using 1", "err", err)
		return 1
	}
	rows := 2 // CFG: negative and positive rows
	if q.PAG.Scale > 0 {
		rows = 3 // PAG adds the perturbed branch
	}
	n := autoBatch(free, q.Width, q.Height, rows)
	e.log.Debug("batch size from free memory", "free_mib", free>>20, "width", q.Width, "height", q.Height, "batch", n)
	return n
}
