package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ebrcs/ebrcs/internal/recognition"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/web"
)

// cmdServe runs the HTTP server and keeps the configured pipelines running until SIGINT or
// SIGTERM.
func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "configs/ebrcs.yaml", "configuration file (optional)")
	addr := fs.String("addr", "", "listen address (default from config: :8080)")
	dir := fs.String("pipelines", "", "pipeline directory (default from config: configs/pipelines)")
	level := fs.String("log-level", "", "debug, info, warn or error (default from config: info)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*configFile, os.Getenv, map[string]string{"addr": *addr, "pipelines": *dir, "log_level": *level})
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel)
	slog.SetDefault(log)
	if err := initGStreamer(); err != nil {
		log.Error("GStreamer", "error", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Deferred in this order so that the pipelines stop before the shared catalogs and
	// embedders they use are closed.
	defer recognition.CloseAll()
	manager := pipelines.NewManager(cfg.Pipelines, pipelines.SupervisorOptions{MaxRestarts: -1, Logger: log})
	defer manager.Close()
	watchErr := make(chan error, 1)
	go func() { watchErr <- manager.Watch(ctx) }()

	srv := &web.Server{Pipelines: manager, Logger: log}
	log.Info("serving", "addr", cfg.Addr, "pipelines", cfg.Pipelines, "version", version)
	serveErr := srv.ListenAndServe(ctx, cfg.Addr)
	stop()
	if err := <-watchErr; err != nil {
		log.Error("pipeline directory", "error", err)
		return 1
	}
	if serveErr != nil {
		log.Error("server", "error", serveErr)
		return 1
	}
	log.Info("stopped")
	return 0
}
