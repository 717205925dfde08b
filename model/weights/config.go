package weights

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"strconv"

	"github.com/sanafarm/sanafarm/internal/readcap"
)

// DecodeJSON decodes a diffusers/transformers config. Python's json module
// writes the non-standard literals NaN, Infinity and -Infinity (e.g.
// `"lambda_min_clipped": -Infinity` in Sana's scheduler config), which
// encoding/json rejects; they are rewritten to strings first and decode
// into Float fields.
func DecodeJSON(data []byte, v any) error {
	fixed, err := quoteNonFinite(data)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(fixed, v); err != nil {
		return fmt.Errorf("decoding config: %w", err)
	}
	return nil
}

// ReadConfig reads and decodes a JSON config file from fsys.
func ReadConfig(fsys fs.FS, name string, v any) error {
	b, err := readcap.FS(fsys, name, MaxConfigBytes)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	if err := DecodeJSON(b, v); err != nil {
		return fmt.Errorf("config %s: %w", name, err)
	}
	return nil
}

// quoteNonFinite rewrites bare NaN/Infinity/-Infinity tokens outside
// strings into JSON strings.
func quoteNonFinite(in []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(in))
	inStr, esc := false, false
	for i := 0; i < len(in); i++ {
		c := in[i]
		if inStr {
			out.WriteByte(c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		if c == '"' {
			inStr = true
			out.WriteByte(c)
			continue
		}
		if tok := nonFiniteAt(in[i:]); tok != "" {
			out.WriteString(strconv.Quote(tok))
			i += len(tok) - 1
			continue
		}
		out.WriteByte(c)
	}
	if inStr {
		return nil, fmt.Errorf("decoding config: unterminated string")
	}
	return out.Bytes(), nil
}

func nonFiniteAt(b []byte) string {
	for _, tok := range []string{"-Infinity", "Infinity", "NaN"} {
		if bytes.HasPrefix(b, []byte(tok)) {
			return tok
		}
	}
	return ""
}

// Float is a float64 config value that also accepts the strings
// "NaN", "Infinity" and "-Infinity".
type Float float64

// UnmarshalJSON accepts numbers and the non-finite literals (as strings).
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			*f = Float(math.NaN())
		case "Infinity":
			*f = Float(math.Inf(1))
		case "-Infinity":
			*f = Float(math.Inf(-1))
		default:
			return fmt.Errorf("float value %q is not a number", s)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}
