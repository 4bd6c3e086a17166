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

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/internal/checkout"
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
	checkoutPipeline := fs.String("checkout-pipeline", "", "pipeline for checkout uploads (default from config: configs/pipelines/checkout.yaml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*configFile, os.Getenv, map[string]string{"addr": *addr, "pipelines": *dir, "log_level": *level, "checkout_pipeline": *checkoutPipeline})
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

	checkouts, err := newCheckout(cfg.Checkout, log)
	if err != nil {
		log.Error("checkout", "error", err)
		return 1
	}
	defer checkouts.Close()

	srv := &web.Server{Pipelines: manager, Checkout: checkouts, Logger: log,
		UploadLimit: cfg.Checkout.MaxUploadMB << 20, UploadDir: cfg.Checkout.UploadDir}
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

// newCheckout starts the session manager. The catalog it stores purchases in and resolves
// cart edits against is the one the upload pipeline's ebrcs_match counts from, so that the
// two can never disagree.
func newCheckout(cfg checkoutConfig, log *slog.Logger) (*checkout.Manager, error) {
	spec, err := pipelines.LoadFile(cfg.Pipeline)
	if err != nil {
		return nil, err
	}
	catalogDir, embedder, modelDir := "var/catalog", "", "models"
	found := false
	for _, st := range spec.Elements {
		if st.Element != "ebrcs_match" {
			continue
		}
		found = true
		for _, p := range st.Properties {
			switch p.Name {
			case "catalog":
				catalogDir = p.Value
			case "embedder":
				embedder = p.Value
			case "model-dir":
				modelDir = p.Value
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: the checkout pipeline has no ebrcs_match: it could not recognise products", cfg.Pipeline)
	}
	emb, err := recognition.OpenEmbedder(embedder, modelDir)
	if err != nil {
		return nil, err
	}
	cat, err := recognition.OpenCatalog(catalogDir, emb, data.Options{})
	if err != nil {
		return nil, err
	}
	queued := cfg.QueueUploads
	if queued == 0 {
		queued = -1 // the manager reads 0 as "default"
	}
	return checkout.NewManager(checkout.Config{
		Pipeline: spec, Store: cat, MaxSessions: cfg.MaxSessions, IdleTTL: cfg.SessionTTL,
		MaxRunningTasks: cfg.MaxUploads, MaxQueuedTasks: queued, Logger: log,
	})
}
