package archtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docRef is a reference to one of the repository's documents.
var docRef = regexp.MustCompile(`\bdocs/([A-Za-z0-9_-]+\.md)`)

// TestDocReferences: every docs/<page>.md that code, scripts, deploy files
// or documents name exists, and none cites the workspace outside the
// repository (../shared): the repository explains itself. (A comment once
// cited a testing page that was never written.)
func TestDocReferences(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "node_modules") {
				return fs.SkipDir
			}
			return nil
		}
		switch filepath.Ext(name) {
		case ".go", ".md", ".sh", ".tf", ".tftpl", ".yaml", ".yml", ".html", ".js", ".css":
		default:
			if name != "Makefile" {
				return nil
			}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.Contains(string(b), "../shared/") && rel != filepath.Join("internal", "archtest", "docrefs_test.go") {
			t.Errorf("%s cites ../shared/, outside the repository", rel)
		}
		for _, m := range docRef.FindAllStringSubmatch(string(b), -1) {
			if _, err := os.Stat(filepath.Join(root, "docs", m[1])); err != nil {
				t.Errorf("%s names docs/%s, which does not exist", rel, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
