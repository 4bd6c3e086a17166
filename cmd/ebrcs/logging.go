package main

import (
	"io"
	"log/slog"
)

// quietLogger logs only warnings and errors: `ebrcs run` prints its own summary.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
