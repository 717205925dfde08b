package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// TestRowImageChecked: a per-row image value is checked as submit checks
// the job-wide image fields before a node uses it (the coordinator never
// sees rows): bounded, a path or a file-naming hf://, file:// or s3:// URL,
// no credentials; errors name the field, column, prompt row and sample and
// echo no credential or unbounded value.
func TestRowImageChecked(t *testing.T) {
	long := `"/srv/in/` + strings.Repeat("a", 5000) + `.png"`
	for _, c := range []struct {
		value string // the column's JSON; "" = no column
		want  string // part of the error; "" = accepted
	}{
		{`"/srv/in/a.png"`, ""},
		{`"file:///srv/in/a.png"`, ""},
		{`"s3://farm/in/a.png"`, ""},
		{`"hf://owner/repo@v1/dir/a.png"`, ""},
		{"", "no such column"},
		{`42`, "got a number"},
		{`{"url": "s3://AKIA:s3cr3t@farm/x.png"}`, "got an object"},
		{`""`, "got an empty string"},
		{`"in/a.png"`, "relative path"},
		{`"/srv/in/../../etc/passwd"`, ".. element"},
		{`"http://169.254.169.254/latest/meta-data/iam/security-credentials/"`, "unknown scheme"},
		{`"https://farm.s3.amazonaws.com/a.png?X-Amz-Signature=s3cr3t"`, "unknown scheme"},
		{`"file:///srv/in/a.png?X-Amz-Signature=s3cr3t"`, "no query"},
		{`"file://u:s3cr3t@localhost/srv/in/a.png"`, "no user"},
		{`"s3://AKIA:s3cr3t@farm/in/a.png"`, "no user"},
		{`"file://metadata.internal/srv/in/a.png"`, "not host"},
		{`"hf://owner/repo"`, "must name a file"},
		{`"hf://owner/../../etc/passwd"`, "want hf://"},
		{long, "longer than 1024 bytes"},
	} {
		row := storage.PromptRow{Prompt: "a fox", Extra: map[string]json.RawMessage{}}
		if c.value != "" {
			row.Extra["ctrl"] = json.RawMessage(c.value)
		}
		u, err := rowImage(row, fieldControlColumn, "ctrl", 7, 2)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.value, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted as %q", c.value, u)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || !strings.Contains(msg, `control_image_column "ctrl" row 3 (sample 7)`) {
			t.Errorf("%s: err = %v, want one naming the column, row 3, sample 7 and %q", c.value, err, c.want)
		}
		if strings.Contains(msg, "s3cr3t") || len(msg) > 400 {
			t.Errorf("%s: error echoes a credential or is %d bytes: %.300s", c.value, len(msg), msg)
		}
	}
}

// FuzzRowImage: any JSON in a row's image column gives either an error of
// bounded length or a value the node's readers parse as the submit check
// does (an hf:// file URL or a location without ".." elements).
func FuzzRowImage(f *testing.F) {
	for _, s := range []string{`"/srv/in/a.png"`, `"hf://o/r/a.png"`, `"s3://farm/k"`, `"file:///x?y"`, `42`, `{}`,
		`"hf://o/r@rev/../x"`, `"s3://u:p@b/k"`, `"file://localhost/a"`, `null`, `"\u0000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		row := storage.PromptRow{Extra: map[string]json.RawMessage{"img": raw}}
		u, err := rowImage(row, fieldInitColumn, "img", 5, 1)
		if err != nil {
			if n := len(err.Error()); n > 2*protocol.MaxModelURLSize {
				t.Fatalf("error of %d bytes", n)
			}
			return
		}
		if len(u) > protocol.MaxModelURLSize {
			t.Fatalf("accepted %d bytes", len(u))
		}
		if protocol.HubURL(u) {
			if _, err := hub.ParseURL(u); err != nil {
				t.Fatalf("accepted %q that the Hub client refuses: %v", u, err)
			}
			return
		}
		loc, err := protocol.ParseLocation(u)
		if err != nil {
			t.Fatalf("accepted %q that does not parse: %v", u, err)
		}
		if !loc.IsS3() && strings.Contains(loc.Path, "..") && hasDotDotElem(loc.Path) {
			t.Fatalf("accepted %q → %s with a .. element", u, loc.Path)
		}
	})
}

func hasDotDotElem(p string) bool {
	for e := range strings.SplitSeq(p, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

// TestRowImageHubSizeBounded: an hf:// row image the Hub lists as larger
// than an input image may be is refused naming its row, before any of it
// is downloaded (only the repo listing is asked for).
func TestRowImageHubSizeBounded(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/api/models/") {
			http.Error(w, "no downloads in this test", http.StatusTeapot)
			return
		}
		fmt.Fprintf(w, `{"sha": %q, "siblings": [{"rfilename": "huge.png", "size": 10737418240,
			"lfs": {"sha256": %q, "size": 10737418240}}]}`, strings.Repeat("a", 40), strings.Repeat("b", 64))
	}))
	defer srv.Close()
	exec := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Logger: testLogger(t),
		Models: &ModelResolver{CacheRoot: t.TempDir(), Hub: &hub.Config{Endpoint: srv.URL, CacheDir: t.TempDir(), MaxRetries: -1}}})
	defer exec.Close()
	rows := []storage.PromptRow{{Prompt: "a fox", Extra: map[string]json.RawMessage{"img": json.RawMessage(`"hf://someone/images/huge.png"`)}}}
	_, err := exec.hashColumn(context.Background(), fieldInitColumn, "img", rows, 4, 1)
	if !errors.Is(err, hub.ErrTooLarge) || !strings.Contains(err.Error(), `init_image_column "img" row 4 (sample 4)`) {
		t.Errorf("err = %v, want hub.ErrTooLarge naming the row", err)
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/api/models/") {
			t.Errorf("requested %s", p)
		}
	}
}

// TestRowImageHeaderCheckedEarly: a row whose file is no PNG or JPEG, or
// whose header claims more than sana.MaxInputSide a side, fails the task
// when the rows are hashed (before the model is loaded), naming the row;
// the images themselves are decoded only at their batch.
func TestRowImageHeaderCheckedEarly(t *testing.T) {
	dir := t.TempDir()
	good, _ := controlPNG(t, dir, "good.png", 0)
	text := filepath.Join(dir, "notes.png")
	bomb := filepath.Join(dir, "bomb.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes() // IHDR: width at 16, height at 20, CRC at 29
	binary.BigEndian.PutUint32(b[16:], 100000)
	binary.BigEndian.PutUint32(b[20:], 100000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	if os.WriteFile(text, []byte("not an image"), 0o644) != nil || os.WriteFile(bomb, b, 0o644) != nil {
		t.Fatal("writing inputs")
	}
	exec := NewPipelineExecutor(PipelineConfig{Allow: testAllow(dir), Logger: testLogger(t),
		Models: &ModelResolver{CacheRoot: t.TempDir()}})
	defer exec.Close()
	row := func(p string) storage.PromptRow {
		js, _ := json.Marshal(p)
		return storage.PromptRow{Prompt: "a fox", Extra: map[string]json.RawMessage{"ctrl": js}}
	}
	for p, want := range map[string]string{text: "unknown format", bomb: "100000×100000"} {
		rows := []storage.PromptRow{row(good), row(good), row(p)}
		_, err := exec.hashColumn(context.Background(), fieldControlColumn, "ctrl", rows, 10, 2)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `control_image_column "ctrl" row 6 (sample 12)`) {
			t.Errorf("%s: err = %v, want one naming row 6 and %q", filepath.Base(p), err, want)
		}
	}
	if m, err := exec.hashColumn(context.Background(), fieldControlColumn, "ctrl", []storage.PromptRow{row(good)}, 0, 1); err != nil || len(m) != 1 {
		t.Errorf("good row: %v %v", m, err)
	}
}
