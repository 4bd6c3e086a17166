package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/ebrcs/ebrcs/server"
)

// cmdServe runs the server (package server) until SIGINT or SIGTERM.
func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "configs/ebrcs.yaml", "configuration file (optional)")
	addr := fs.String("addr", "", "listen address (default from config: :8080)")
	dir := fs.String("pipelines", "", "pipeline directory (default from config: configs/pipelines)")
	level := fs.String("log-level", "", "debug, info, warn or error (default from config: info)")
	checkoutPipeline := fs.String("checkout-pipeline", "", "pipeline for checkout uploads (default from config: configs/pipelines/checkout.yaml)")
	adminToken := fs.String("admin-token", "", "token the admin API requires (default from config; none: one is generated and written to var/admin-token, never logged)")
	tlsCert := fs.String("tls-cert", "", "certificate file (PEM) to serve HTTPS, with --tls-key")
	tlsKey := fs.String("tls-key", "", "private key file (PEM) of --tls-cert")
	tlsSelfSigned := fs.Bool("tls-self-signed", false, "serve HTTPS with a self-signed certificate generated at startup")
	mediaDir := fs.String("media-dir", "", "the only directory pipelines sent through the API may read videos from (default from config: media)")
	pipelinesAPI := fs.String("pipelines-api", "", "read-write or read-only: whether admins may PUT pipeline definitions (default from config: read-write)")
	eventsURL := fs.String("events-url", "", "NATS server (nats://host:4222) for the events and the nodes' presence (default from config: none, a single server)")
	nodeName := fs.String("node-name", "", "this server's name among the nodes (default from config: the host name)")
	catalogURL := fs.String("catalog-url", "", "PostgreSQL database (postgres://user@host:5432/db) that is every node's catalog of record (default from config: none, the local SQLite catalog)")
	nodeURL := fs.String("node-url", "", "where browsers reach this server, for other nodes' redirects (default: http[s]://HOST:PORT)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Keyed by option name, as in the file; an empty value is no flag.
	flags := map[string]string{"addr": *addr, "pipelines": *dir, "log_level": *level, "checkout_pipeline": *checkoutPipeline,
		"admin_token": *adminToken, "tls_cert": *tlsCert, "tls_key": *tlsKey,
		"media_dir": *mediaDir, "pipelines_api": *pipelinesAPI,
		"events_url": *eventsURL, "node_name": *nodeName, "node_url": *nodeURL, "catalog_url": *catalogURL}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "tls-self-signed" {
			flags["tls_self_signed"] = strconv.FormatBool(*tlsSelfSigned)
		}
	})
	cfg, err := server.LoadConfig(*configFile, os.Getenv, flags)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 2
	}
	log := server.NewLogger(stderr, cfg.LogLevel)
	slog.SetDefault(log)
	if err := initGStreamer(); err != nil {
		log.Error("GStreamer", "error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // stopping: a second signal ends the process at once
	}()
	if err := server.Run(ctx, cfg, version, log); err != nil {
		log.Error("server", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
