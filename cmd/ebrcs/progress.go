package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress is a progress bar on a terminal and nothing elsewhere (logs, pipes, CI). It
// satisfies recognition.Progress.
type progress struct {
	bar          *progressbar.ProgressBar
	total, shown int
}

func newProgress(w io.Writer, total int, what string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{total: total}
	}
	return &progress{total: total, bar: progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())}
}

func (p *progress) Add(n int) {
	if p.bar != nil {
		p.bar.Add(n)
	}
}

// To moves the bar to the fraction done (0 to 1) of its total; it never goes back.
func (p *progress) To(done float64) {
	if n := int(float64(p.total) * done); n > p.shown {
		p.Add(n - p.shown)
		p.shown = n
	}
}

func (p *progress) Finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
