package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sanafarm/sanafarm/protocol"
)

// PromptRow is one row of a prompt source. JSONL objects, CSV rows and
// Parquet rows may carry more than the prompt: a negative prompt, a seed
// (the row's images then draw their noise from it instead of the job
// seed), an id, and extra fields, all recorded in each sample's
// provenance.
type PromptRow struct {
	Prompt         string                     `json:"prompt"`
	NegativePrompt string                     `json:"negative_prompt,omitempty"`
	Seed           *uint64                    `json:"seed,omitempty"`
	ID             string                     `json:"id,omitempty"`
	Extra          map[string]json.RawMessage `json:"extra,omitempty"`
}

// Field names with a meaning; other fields are extras.
const (
	fieldPrompt   = "prompt"
	fieldNegative = "negative_prompt"
	fieldSeed     = "seed"
	fieldID       = "id"
)

// promptAliases are accepted instead of "prompt" in JSONL records.
var promptAliases = []string{fieldPrompt, "text", "caption"}

// MaxExtraFields bounds a row's extra fields: they travel in every
// sample's stats and become manifest columns, which the coordinator
// builds (the stats' reader refuses more: extraFields).
const MaxExtraFields = 256

// check enforces the limits every row of every format obeys.
func (p PromptRow) check() error {
	if len(p.Extra) > MaxExtraFields {
		return fmt.Errorf("%d extra fields, more than the limit of %d", len(p.Extra), MaxExtraFields)
	}
	if len(p.Prompt) > protocol.MaxPromptBytes {
		return fmt.Errorf("prompt is %d bytes, longer than the limit of %d", len(p.Prompt), protocol.MaxPromptBytes)
	}
	if len(p.NegativePrompt) > protocol.MaxPromptBytes {
		return fmt.Errorf("negative_prompt is %d bytes, longer than the limit of %d", len(p.NegativePrompt), protocol.MaxPromptBytes)
	}
	if !utf8.ValidString(p.Prompt) || !utf8.ValidString(p.NegativePrompt) || !utf8.ValidString(p.ID) {
		return errors.New("invalid UTF-8")
	}
	return nil
}

// parseJSONLine accepts a JSON string or an object with a string "prompt"
// (or "text", or "caption") field and optional negative_prompt, seed, id
// and extra fields.
func parseJSONLine(b []byte) (PromptRow, error) {
	b = bytes.TrimSpace(b)
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return PromptRow{}, fmt.Errorf("invalid JSON string: %w", err)
		}
		return PromptRow{Prompt: s}, nil
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(b, &rec); err != nil {
		return PromptRow{}, fmt.Errorf("invalid JSON record (want a string or an object with a \"prompt\" field): %w", err)
	}
	var p PromptRow
	found := false
	for _, k := range promptAliases {
		raw, ok := rec[k]
		if !ok || found {
			continue
		}
		if err := json.Unmarshal(raw, &p.Prompt); err != nil {
			return PromptRow{}, fmt.Errorf("field %q is not a string", k)
		}
		found = true
		delete(rec, k)
	}
	if !found {
		return PromptRow{}, errors.New(`record has no "prompt" field`)
	}
	if err := p.takeJSONFields(rec); err != nil {
		return PromptRow{}, err
	}
	return p, nil
}

// takeJSONFields moves negative_prompt, seed and id out of rec; the rest
// become Extra.
func (p *PromptRow) takeJSONFields(rec map[string]json.RawMessage) error {
	if raw, ok := rec[fieldNegative]; ok {
		if err := json.Unmarshal(raw, &p.NegativePrompt); err != nil {
			return fmt.Errorf("field %q is not a string", fieldNegative)
		}
		delete(rec, fieldNegative)
	}
	if raw, ok := rec[fieldSeed]; ok {
		s, err := parseSeed(strings.Trim(string(raw), `"`))
		if err != nil {
			return err
		}
		p.Seed = &s
		delete(rec, fieldSeed)
	}
	if raw, ok := rec[fieldID]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw) // a number (or other scalar) as written
		}
		p.ID = s
		delete(rec, fieldID)
	}
	if len(rec) > 0 {
		p.Extra = rec
	}
	return nil
}

// parseSeed reads a seed: a non-negative integer that fits 64 bits.
func parseSeed(s string) (uint64, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("field %q: %q is not an unsigned 64-bit integer", fieldSeed, s)
	}
	return v, nil
}
