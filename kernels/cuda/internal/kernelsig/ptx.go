package main

import (
	"bufio"
	"fmt"
	"strings"
)

// kind is what a kernel parameter or launch argument occupies.
type kind int

const (
	kindUnknown kind = iota
	kind8            // pointers, int64_t, uint64_t
	kindInt4         // int32_t, uint32_t
	kindFloat4       // float
)

func (k kind) String() string {
	switch k {
	case kind8:
		return "8-byte"
	case kindInt4:
		return "int32"
	case kindFloat4:
		return "float32"
	}
	return "unknown"
}

// parsePTX returns the parameter kinds of every .entry in a PTX module.
func parsePTX(src string) (map[string][]kind, error) {
	out := map[string][]kind{}
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, ".entry "); i >= 0 {
			name := strings.TrimSpace(line[i+len(".entry "):])
			name = strings.TrimSuffix(strings.TrimSuffix(name, "("), "()")
			cur = strings.TrimSpace(name)
			out[cur] = []kind{}
			if strings.HasSuffix(line, "()") {
				cur = ""
			}
			continue
		}
		if cur == "" {
			continue
		}
		if strings.HasPrefix(line, ")") {
			cur = ""
			continue
		}
		if !strings.HasPrefix(line, ".param ") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("entry %s: cannot read %q", cur, line)
		}
		var k kind
		switch f[1] {
		case ".u64", ".s64", ".b64":
			k = kind8
		case ".u32", ".s32", ".b32":
			k = kindInt4
		case ".f32":
			k = kindFloat4
		default:
			return nil, fmt.Errorf("entry %s: parameter type %s not handled (%q)", cur, f[1], line)
		}
		out[cur] = append(out[cur], k)
	}
	return out, sc.Err()
}
