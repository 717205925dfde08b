package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"

	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/storage"
)

// maxRowImages bounds the distinct images of one column one task reads.
const maxRowImages = 100_000

// Fields of the per-row image columns, as errors name them.
const (
	fieldInitColumn    = "init_image_column"
	fieldControlColumn = "control_image_column"
)

// rowImage is the image URL of a prompt row's column (field names the
// spec field that chose the column).
func rowImage(row storage.PromptRow, field, column string, index int64) (string, error) {
	raw, ok := row.Extra[column]
	if !ok {
		return "", fmt.Errorf("%s %q: sample %d's prompt row has no such column", field, column, index)
	}
	var u string
	if err := json.Unmarshal(raw, &u); err != nil || u == "" {
		return "", fmt.Errorf("%s %q: sample %d: want a path or URL, got %.80s", field, column, index, raw)
	}
	return u, nil
}

// readRowImages hashes every distinct init and control image the task's
// rows name (allow-list checked as their column's field), for the request
// hash; the images are read again, and checked against these hashes, when
// their batch is generated, so a task never holds them all in memory.
func (e *PipelineExecutor) readRowImages(ctx context.Context, in *jobInputs, rows []storage.PromptRow, first int64) error {
	var err error
	if in.column != "" {
		if in.rowImages, err = e.hashColumn(ctx, fieldInitColumn, in.column, rows, first); err != nil {
			return err
		}
	}
	if c := in.control; c != nil && c.column != "" {
		if c.rows, err = e.hashColumn(ctx, fieldControlColumn, c.column, rows, first); err != nil {
			return err
		}
	}
	return nil
}

// hashColumn maps each distinct image URL of a column to its sha256.
func (e *PipelineExecutor) hashColumn(ctx context.Context, field, column string, rows []storage.PromptRow, first int64) (map[string]string, error) {
	out := map[string]string{}
	for i, row := range rows {
		u, err := rowImage(row, field, column, first+int64(i))
		if err != nil {
			return nil, err
		}
		if _, ok := out[u]; ok {
			continue
		}
		if len(out) >= maxRowImages {
			return nil, fmt.Errorf("%s %q: more than %d distinct images in one task", field, column, maxRowImages)
		}
		b, err := e.readInput(ctx, field, u, maxInitImageBytes)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out[u] = hex.EncodeToString(sum[:])
	}
	return out, nil
}

// rowInputs sets a planned sample's row images (checked by readRowImages).
func (in *jobInputs) rowInputs(s *planned, row storage.PromptRow) {
	if in.column != "" {
		s.init, _ = rowImage(row, fieldInitColumn, in.column, s.index)
		s.initSHA = in.rowImages[s.init]
	}
	if c := in.control; c != nil && c.column != "" {
		s.control, _ = rowImage(row, fieldControlColumn, c.column, s.index)
		s.controlSHA = c.rows[s.control]
	}
}

// loadRowImage reads and decodes one row's image of the column field,
// refusing it when it changed since readRowImages hashed it.
func (e *PipelineExecutor) loadRowImage(ctx context.Context, field, url, want string) (image.Image, error) {
	b, err := e.readInput(ctx, field, url, maxInitImageBytes)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("%s: image %s changed while the task ran", field, url)
	}
	img, err := sana.DecodeInputImage(b)
	if err != nil {
		return nil, fmt.Errorf("%s: image %s: %w", field, url, err)
	}
	return img, nil
}
