package hub

import (
	"fmt"
	"io"
	"sync"

	"github.com/schollz/progressbar/v3"
)

// Progress receives download progress. Add and FileDone are called from
// several goroutines at once; implementations must be safe for that. A nil
// Progress in Config reports nothing.
type Progress interface {
	// Start announces a download of files files totalling bytes bytes.
	Start(files int, bytes int64)
	// Add reports n more bytes of file; n is negative when a download that
	// the server would not resume starts over.
	Add(file string, n int64)
	// FileDone reports that file finished, with err nil on success.
	FileDone(file string, err error)
	// Done ends the download.
	Done()
}

// Bar is a Progress that draws one terminal progress bar for all bytes,
// with the count of finished files. Make one with NewBar.
type Bar struct {
	w     io.Writer
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	files int
	done  int
}

var _ Progress = (*Bar)(nil)

// NewBar returns a Progress drawing to w (usually os.Stderr).
func NewBar(w io.Writer) *Bar { return &Bar{w: w} }

// Start implements Progress.
func (b *Bar) Start(files int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.files, b.done = files, 0
	b.bar = progressbar.NewOptions64(bytes,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000), // 100ms
		progressbar.OptionShowCount(),
		progressbar.OptionSetDescription(b.describe()),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
		progressbar.OptionFullWidth(),
	)
}

func (b *Bar) describe() string { return fmt.Sprintf("downloading %d/%d files", b.done, b.files) }

// Add implements Progress.
func (b *Bar) Add(_ string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Add64(n)
	}
}

// FileDone implements Progress.
func (b *Bar) FileDone(_ string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.done++
	}
	if b.bar != nil {
		b.bar.Describe(b.describe())
	}
}

// Done implements Progress.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Finish()
		b.bar = nil
	}
}
