package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"

	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// maxRowImages bounds the distinct images of one column one task reads.
const maxRowImages = 100_000

// Fields of the per-row image columns, as errors name them.
const (
	fieldInitColumn    = "init_image_column"
	fieldControlColumn = "control_image_column"
)

// rowField names a row's image in errors: the spec field, its column, the
// prompt row (0-based, as the prompt readers count) and the sample.
func rowField(field, column string, sample, perPrompt int64) string {
	return fmt.Sprintf("%s %q row %d (sample %d)", field, column, sample/max(perPrompt, 1), sample)
}

// rowImage is the image URL of a prompt row's column (field names the
// spec field that chose the column). The coordinator never sees rows, so
// the value is checked here as submit checks the job-wide init_image and
// control_image (protocol.CheckImageURL: bounded length, an hf:// file, a
// node path, file:// or s3:// URL) before anything uses it; errors show
// it redacted (docs/controlnet.md).
func rowImage(row storage.PromptRow, field, column string, sample, perPrompt int64) (string, error) {
	where := rowField(field, column, sample, perPrompt)
	raw, ok := row.Extra[column]
	if !ok {
		return "", fmt.Errorf("%s: the prompt row has no such column", where)
	}
	var u string
	if err := json.Unmarshal(raw, &u); err != nil || u == "" {
		return "", fmt.Errorf("%s: want a path or URL, got %s", where, jsonKind(raw))
	}
	if err := protocol.CheckImageURL(u); err != nil {
		return "", fmt.Errorf("%s = %s: %w", where, protocol.RedactURL(u), err)
	}
	return u, nil
}

// jsonKind describes a JSON value that is not a non-empty string without
// echoing it (a row may hold anything).
func jsonKind(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "invalid JSON"
	}
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "an empty string"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "an array"
	}
	return "an object"
}

// readRowImages hashes every distinct init and control image the task's
// rows name (allow-list checked as their column's field, the header read
// and bounded as sana.DecodeInputImage does), for the request hash; the images are read again, and checked against these hashes, when
// their batch is generated, so a task never holds them all in memory.
func (e *PipelineExecutor) readRowImages(ctx context.Context, in *jobInputs, rows []storage.PromptRow, first int64) error {
	var err error
	if in.column != "" {
		if in.rowImages, err = e.hashColumn(ctx, fieldInitColumn, in.column, rows, first, in.perPrompt); err != nil {
			return err
		}
	}
	if c := in.control; c != nil && c.column != "" {
		if c.rows, err = e.hashColumn(ctx, fieldControlColumn, c.column, rows, first, in.perPrompt); err != nil {
			return err
		}
	}
	return nil
}

// hashColumn maps each distinct image URL of a column to its sha256.
func (e *PipelineExecutor) hashColumn(ctx context.Context, field, column string, rows []storage.PromptRow, first, perPrompt int64) (map[string]string, error) {
	out := map[string]string{}
	for i, row := range rows {
		sample := first + int64(i)
		u, err := rowImage(row, field, column, sample, perPrompt)
		if err != nil {
			return nil, err
		}
		if _, ok := out[u]; ok {
			continue
		}
		if len(out) >= maxRowImages {
			return nil, fmt.Errorf("%s %q: more than %d distinct images in one task", field, column, maxRowImages)
		}
		where := rowField(field, column, sample, perPrompt)
		b, err := e.readInput(ctx, where, u, maxInitImageBytes)
		if err != nil {
			return nil, err
		}
		// The header now, so that a row that is no image fails the task
		// before its model is loaded, not at its batch.
		if _, err := sana.InputImageConfig(b); err != nil {
			return nil, fmt.Errorf("%s %s: %w", where, u, err)
		}
		sum := sha256.Sum256(b)
		out[u] = hex.EncodeToString(sum[:])
	}
	return out, nil
}

// rowInputs sets a planned sample's row images (checked by readRowImages).
func (in *jobInputs) rowInputs(s *planned, row storage.PromptRow) {
	if in.column != "" {
		s.init, _ = rowImage(row, fieldInitColumn, in.column, s.index, in.perPrompt)
		s.initSHA = in.rowImages[s.init]
	}
	if c := in.control; c != nil && c.column != "" {
		s.control, _ = rowImage(row, fieldControlColumn, c.column, s.index, in.perPrompt)
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
