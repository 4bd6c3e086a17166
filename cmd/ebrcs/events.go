package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ebrcs/ebrcs/cluster"
	"github.com/ebrcs/ebrcs/server"
)

// cmdEvents: `ebrcs events tail` follows the events' stream for an operator.
func cmdEvents(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "tail" {
		fmt.Fprintln(stderr, "usage: ebrcs events tail [--events-url URL] [--subject SUBJECT] [--since DURATION | --all] [--json]")
		return 2
	}
	fs := flag.NewFlagSet("events tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "configs/ebrcs.yaml", "configuration file (optional): its events_url and cluster.stream")
	eventsURL := fs.String("events-url", "", "NATS server (default from config, or EBRCS_EVENTS_URL)")
	subject := fs.String("subject", "ebrcs.>", "subjects to follow: ebrcs.<node>.<session>.<type>, with * and > wildcards (ebrcs.*.*.count: every count)")
	since := fs.Duration("since", 0, "start this far back (e.g. 10m); default: only new events")
	all := fs.Bool("all", false, "start at the beginning of the stream")
	asJSON := fs.Bool("json", false, "print each event as it is on the stream (JSON, one per line)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := server.LoadConfig(*configFile, os.Getenv, map[string]string{"events_url": *eventsURL})
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 2
	}
	if cfg.EventsURL == "" {
		fmt.Fprintln(stderr, "ebrcs: no events_url: give --events-url nats://HOST:4222 (or set it in the config or EBRCS_EVENTS_URL)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = cluster.Tail(ctx, cfg.EventsURL, cluster.TailOptions{Stream: cfg.Cluster.Stream, Subject: *subject,
		Since: *since, All: *all, JSON: *asJSON, Dedup: true}, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	return 0
}
