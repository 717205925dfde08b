package storage

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sanafarm/sanafarm/protocol"
)

// maxStatsList bounds each list of a shard's stats (samples, failures,
// files): a shard has at most protocol.MaxShardSize samples, each with at
// most a few objects. The bound is checked while decoding: a decoded
// record takes ~100 times the bytes of its shortest encoding ("{},"), so
// MaxStatsBytes alone would still let 256 MiB of "{}" take many GiB.
const maxStatsList = 4*protocol.MaxShardSize + 16

// boundedList is a JSON array decoded one element at a time, refused past
// maxStatsList elements (ReadStats; docs/architecture.md §7).
type boundedList[T any] []T

// UnmarshalJSON decodes an array (or null) of at most maxStatsList
// elements.
func (l *boundedList[T]) UnmarshalJSON(data []byte) error {
	dec, err := openJSON(data, '[', "an array")
	if err != nil || dec == nil {
		*l = nil
		return err
	}
	out := []T{} // "[]" is an empty list, not a missing one, as encoding/json has it
	for dec.More() {
		if len(out) == maxStatsList {
			return fmt.Errorf("more than %d elements", maxStatsList)
		}
		var v T
		if err := dec.Decode(&v); err != nil {
			return err
		}
		out = append(out, v)
	}
	*l = out
	return nil
}

// openJSON starts decoding data, which must be null (then the decoder is
// nil) or open with delim (what names it in the error).
func openJSON(data []byte, delim json.Delim, what string) (*json.Decoder, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	switch {
	case err != nil:
		return nil, err
	case tok == nil:
		return nil, nil
	case tok != delim:
		return nil, fmt.Errorf("want %s, got %s", what, tokenKind(tok))
	}
	return dec, nil
}

// extraFields is a sample's extra fields (SampleRecord.Extra), refused
// past MaxExtraFields while decoding: a map entry takes ~10 times the
// bytes of its shortest encoding.
type extraFields map[string]json.RawMessage

// UnmarshalJSON decodes an object (or null) of at most MaxExtraFields
// fields.
func (m *extraFields) UnmarshalJSON(data []byte) error {
	dec, err := openJSON(data, '{', "an object")
	if err != nil || dec == nil {
		*m = nil
		return err
	}
	out := extraFields{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := tok.(string) // object keys are strings: the decoder says so
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		out[k] = v
		if len(out) > MaxExtraFields {
			return fmt.Errorf("more than %d extra fields", MaxExtraFields)
		}
	}
	*m = out
	return nil
}

// tokenKind names a JSON token's kind, never its value: a stats file is a
// node's (any size, any content), and the error reaches logs.
func tokenKind(tok json.Token) string {
	switch tok.(type) {
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case json.Delim:
		if tok == json.Delim('[') {
			return "an array"
		}
		return "an object"
	}
	return "something else"
}
