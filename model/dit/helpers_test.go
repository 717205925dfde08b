package dit

import (
	"bytes"
	"io/fs"
	"os"
	"path"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

func osDirFS(c string) fs.FS { return os.DirFS(path.Join("../../testdata/golden", c)) }

func memFile(t *testing.T, ts map[string]*kernels.Tensor) *weights.File {
	t.Helper()
	var buf bytes.Buffer
	if err := weights.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	f, err := weights.OpenBytes("mem", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}
