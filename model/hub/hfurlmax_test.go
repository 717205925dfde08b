package hub

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestDownloadURLMax: a file the Hub lists as larger than the reader's
// limit is refused before any byte of it is downloaded (a job naming a
// multi-gigabyte file as an input image would otherwise fill the cache
// first); one within the limit is fetched.
func TestDownloadURLMax(t *testing.T) {
	h := newFakeHub(t)
	const repo = "someone/images"
	h.addCommit(repo, commitA, map[string][]byte{"big.safetensors": blobOf("big", 50_000)}, "main")
	c := newTestClient(t, h, t.TempDir(), nil)
	ctx := context.Background()
	url := "hf://" + repo + "/big.safetensors"
	_, _, err := c.DownloadURLMax(ctx, url, 49_999)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "50000 bytes") || !strings.Contains(err.Error(), url) {
		t.Errorf("over the limit: %v", err)
	}
	if n := h.count("GET", "/cdn/"); n != 0 {
		t.Errorf("%d CDN GETs before refusing, want 0", n)
	}
	if _, f, err := c.DownloadURLMax(ctx, url, 50_000); err != nil || f.Size != 50_000 {
		t.Errorf("at the limit: %+v %v", f, err)
	}
}
