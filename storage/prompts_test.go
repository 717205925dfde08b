package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sanafarm/sanafarm/protocol"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPromptReaderFiles(t *testing.T) {
	ctx := context.Background()
	txt := writeFile(t, "p.txt", "\xef\xbb\xbfa red fox\r\n\nsecond\n  \nthird prompt\nfourth")
	jsonl := writeFile(t, "p.jsonl", `{"prompt": "a red fox", "id": 1}`+"\n\n"+`"second"`+"\n"+
		`{"text": "third prompt"}`+"\n"+`{"caption": "fourth", "prompt": "fourth"}`)
	for _, path := range []string{txt, "file://" + jsonl} {
		t.Run(filepath.Ext(path), func(t *testing.T) {
			src := protocol.PromptSource{URL: path}
			n, err := CountPrompts(ctx, src)
			if err != nil || n != 4 {
				t.Fatalf("count: %d %v", n, err)
			}
			r, err := NewPromptReader(src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Read(ctx, 1, 3)
			if err != nil || strings.Join(got, "|") != "second|third prompt" {
				t.Fatalf("rows [1,3): %q %v", got, err)
			}
			got, err = r.Read(ctx, 0, 4)
			if err != nil || strings.Join(got, "|") != "a red fox|second|third prompt|fourth" {
				t.Fatalf("rows [0,4): %q %v", got, err)
			}
			if _, err := r.Read(ctx, 2, 6); err == nil || !strings.Contains(err.Error(), "has 4 prompts") {
				t.Fatalf("rows past the end: %v", err)
			}
		})
	}
}

func TestPromptReaderInline(t *testing.T) {
	r, err := NewPromptReader(protocol.PromptSource{Inline: []string{"a", "b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Read(context.Background(), 1, 3)
	if err != nil || strings.Join(got, ",") != "b,c" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := r.Read(context.Background(), 2, 4); err == nil {
		t.Fatal("read past the inline prompts")
	}
}

func TestPromptErrors(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("x", 10<<20)
	cases := []struct {
		name, file, content, want string
	}{
		{"bad json line", "p.jsonl", `{"prompt": "ok"}` + "\n" + `"fine"` + "\n\n" + `{"prompt": "broken` + "\n", "p.jsonl:4: invalid JSON"},
		{"no prompt field", "p.jsonl", `{"prompt": "ok"}` + "\n" + `{"id": 3}` + "\n", `p.jsonl:2: record has no "prompt" field`},
		{"prompt not a string", "p.jsonl", `{"prompt": 5}`, `p.jsonl:1: field "prompt" is not a string`},
		{"invalid utf-8 txt", "p.txt", "fine\nbad \xff\xfe here\n", "p.txt:2: invalid UTF-8"},
		{"invalid utf-8 jsonl", "p.jsonl", "\"ok\"\n\"\xc3\x28\"\n", "p.jsonl:2: invalid UTF-8"},
		{"empty file", "p.txt", "", "has no prompts"},
		{"blank file", "p.jsonl", "\n \n\r\n", "has no prompts"},
		{"10 MB prompt", "p.txt", "short\n" + big + "\n", "p.txt:2: line longer than"},
		{"70 KB prompt", "p.txt", strings.Repeat("y", 70<<10), "p.txt:1: prompt is 71680 bytes"},
		{"unknown format", "p.xml", "<p/>", "unknown format"},
		{"csv without prompt column", "p.csv", "a,b\n1,2\n", `p.csv:1: header has no "prompt" column (columns: a, b)`},
		{"csv bad quote", "p.csv", "id,prompt\n1,ok\n2,\"broken\n", "p.csv:3: column"},
		{"csv wrong field count", "p.csv", "id,prompt\n1,ok\n2\n", "p.csv:3: column 1: wrong number of fields"},
		{"csv bad seed", "p.csv", "prompt,seed\nok,1\nfox,-4\n", `p.csv:3: field "seed": "-4" is not`},
		{"csv invalid utf-8", "p.csv", "prompt\nok\nbad \xff\n", "p.csv:3: invalid UTF-8"},
		{"csv empty", "p.csv", "", "has no prompts"},
		{"jsonl bad seed", "p.jsonl", `{"prompt": "a", "seed": "x"}`, `p.jsonl:1: field "seed"`},
		{"parquet garbage", "p.parquet", "not parquet", "not a Parquet file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, c.file, c.content)
			_, err := CountPrompts(ctx, protocol.PromptSource{URL: path})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestScanStreams checks that a prompt range near the start of a huge
// stream returns without reading the rest.
func TestScanStreams(t *testing.T) {
	r := &endlessLines{}
	var got []string
	err := ScanPrompts(context.Background(), r, FormatTXT, "endless", func(row int64, p string) error {
		if row >= 3 {
			return errStopScan
		}
		got = append(got, p)
		return nil
	})
	if !errors.Is(err, errStopScan) || len(got) != 3 || r.n > 1<<20 {
		t.Fatalf("got %q, err %v, read %d bytes", got, err, r.n)
	}
}

type endlessLines struct{ n int }

func (e *endlessLines) Read(p []byte) (int, error) {
	line := []byte("a prompt line\n")
	k := 0
	for k+len(line) <= len(p) {
		k += copy(p[k:], line)
	}
	e.n += k
	return k, nil
}

func FuzzScanPrompts(f *testing.F) {
	f.Add([]byte("a\nb\r\n\n c \n"), true)
	f.Add([]byte(`{"prompt":"x"}`+"\n"+`"y"`+"\n"+`{"text":"z"}`), false)
	f.Add([]byte("\xef\xbb\xbf\"\\u00e9\"\n{\"prompt\": null}"), false)
	f.Add([]byte("\xff\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, txt bool) {
		format := FormatJSONL
		if txt {
			format = FormatTXT
		}
		var rows int64
		err := ScanPrompts(context.Background(), bytes.NewReader(data), format, "fuzz", func(row int64, p string) error {
			if row != rows {
				t.Fatalf("row %d after %d rows", row, rows)
			}
			if !utf8.ValidString(p) || len(p) > protocol.MaxPromptBytes {
				t.Fatalf("row %d: invalid prompt %q", row, p)
			}
			if txt && (strings.ContainsAny(p, "\n") || strings.TrimSpace(p) == "") {
				t.Fatalf("row %d: txt prompt %q", row, p)
			}
			rows++
			return nil
		})
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz:") {
			t.Fatalf("error %q does not name the file and line", err)
		}
	})
}

// badLine123 is a JSONL prompt file whose line 123 is malformed (line 50
// is blank, so line 123 is row 121).
func badLine123() string {
	var b strings.Builder
	for line := 1; line <= 130; line++ {
		switch line {
		case 50:
			b.WriteString("\n")
		case 123:
			b.WriteString(`{"prompt": "a red fox", "seed": 7,` + "\n")
		default:
			fmt.Fprintf(&b, "{\"prompt\": \"prompt on line %d\"}\n", line)
		}
	}
	return b.String()
}

// TestJSONLBadLine123: counting the rows (what submit does) and reading a
// range that covers the bad line both fail naming the file and line 123.
func TestJSONLBadLine123(t *testing.T) {
	ctx := context.Background()
	path := writeFile(t, "bad.jsonl", badLine123())
	want := path + ":123: invalid JSON"
	if _, err := CountPrompts(ctx, protocol.PromptSource{URL: path}); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("counting: error %v, want it to contain %q", err, want)
	}
	r, err := NewPromptReader(protocol.PromptSource{URL: "file://" + path, Rows: 129})
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := r.ReadRows(ctx, 0, 100); err != nil || len(rows) != 100 {
		t.Fatalf("rows before the bad line: %d, %v", len(rows), err)
	}
	if _, err := r.ReadRows(ctx, 110, 125); err == nil || !strings.Contains(err.Error(), ":123: invalid JSON") ||
		!strings.Contains(err.Error(), "bad.jsonl") {
		t.Fatalf("reading rows 110-125: error %v, want it to name bad.jsonl:123", err)
	}
}
