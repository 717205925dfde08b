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

// maxRowImages bounds the distinct init images one task reads.
const maxRowImages = 100_000

// rowImage is the init image URL of a prompt row's column.
func rowImage(row storage.PromptRow, column string, index int64) (string, error) {
	raw, ok := row.Extra[column]
	if !ok {
		return "", fmt.Errorf("init_image_column %q: sample %d's prompt row has no such column", column, index)
	}
	var u string
	if err := json.Unmarshal(raw, &u); err != nil || u == "" {
		return "", fmt.Errorf("init_image_column %q: sample %d: want a path or URL, got %.80s", column, index, raw)
	}
	return u, nil
}

// readRowImages hashes every distinct init image the task's rows name
// (allow-list checked as init_image_column), for the request hash; the
// images are read again, and checked against these hashes, when their
// batch is generated, so a task never holds them all in memory.
func (e *PipelineExecutor) readRowImages(ctx context.Context, in *jobInputs, rows []storage.PromptRow, first int64) error {
	if in.column == "" {
		return nil
	}
	in.rowImages = map[string]string{}
	for i, row := range rows {
		u, err := rowImage(row, in.column, first+int64(i))
		if err != nil {
			return err
		}
		if _, ok := in.rowImages[u]; ok {
			continue
		}
		if len(in.rowImages) >= maxRowImages {
			return fmt.Errorf("init_image_column %q: more than %d distinct images in one task", in.column, maxRowImages)
		}
		b, err := e.readInput(ctx, "init_image_column", u, maxInitImageBytes)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		in.rowImages[u] = hex.EncodeToString(sum[:])
	}
	return nil
}

// loadRowImage reads and decodes one row's init image, refusing it when
// it changed since readRowImages hashed it.
func (e *PipelineExecutor) loadRowImage(ctx context.Context, url, want string) (image.Image, error) {
	b, err := e.readInput(ctx, "init_image_column", url, maxInitImageBytes)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("init image %s changed while the task ran", url)
	}
	img, err := sana.DecodeInputImage(b)
	if err != nil {
		return nil, fmt.Errorf("init image %s: %w", url, err)
	}
	return img, nil
}
