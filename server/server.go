// Package server assembles `ebrcs serve` from its Config (configs/ebrcs.yaml, the environment,
// flags): the checkout with its catalog, the pipeline manager whose camera pipelines are
// checkout stations, the WebRTC service, the access guard and the HTTP server. Each part is
// handed everything it needs when it is created; nothing is filled in later.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/cluster"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/internal/malloctune"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/recognition"
	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/web"
)

// Run serves until ctx ends, then stops gracefully: live connections close, sessions end, the
// pipelines stop and the catalog is closed. GStreamer must be initialised, with our elements
// registered. version is shown in the log.
func Run(ctx context.Context, cfg Config, version string, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Sessions come and go all day; without this the native heap keeps their freed memory.
	go malloctune.TrimEvery(ctx, 30*time.Second)

	// Deferred in this order so that the pipelines stop before the shared catalogs and
	// embedders they use are closed.
	defer recognition.CloseAll()
	// The camera stations' annotated video, for their pipelines and for WHEP viewers.
	outputs := signaling.NewOutputs()
	// More than one server (events_url): every event leaves through the broker.
	events, node, err := openCluster(cfg, version, log)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if node != nil {
		defer node.Close() // after checkouts.Close: the sessions' last events are queued
	}
	checkouts, catalog, err := newCheckout(cfg.Checkout, cfg.CatalogURL, outputs, events, log)
	if err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	defer checkouts.Close()
	// Standing pipelines that count (cameras) are checkout stations: the checkout binds them.
	// Definitions sent through the API may read videos from media_dir only, and no other file
	// (pipelines.Policy); the directory's own files are the operator's.
	manager := pipelines.NewManager(cfg.Pipelines, pipelines.ManagerOptions{Binder: checkouts,
		APIPolicy: &pipelines.Policy{MediaDir: cfg.MediaDir}, MaxRestarts: -1, Logger: log})
	defer manager.Close() // before checkouts.Close: deferred later, runs earlier

	token, err := adminToken(cfg.AdminToken, log)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	// The admin's named tokens, next to the admin token's file. A file that cannot be read is
	// logged and the server runs on the configured tokens (the admin page says why).
	tokens, err := access.OpenTokens(tokensFile)
	if err != nil {
		log.Error("named tokens do not work", "err", err)
	}
	defer func() {
		if err := tokens.Flush(); err != nil {
			log.Warn("named tokens: the last-used times were not saved", "err", err)
		}
	}()
	go tokens.FlushEvery(ctx, time.Minute, func(err error) { log.Warn("named tokens: the last-used times were not saved", "err", err) })
	// One guard for every door to a session: the HTTP API and WHIP/WHEP.
	trusted, _ := cfg.trustedProxies() // checked by LoadConfig
	guard := &access.Guard{AdminToken: token, StaffToken: cfg.StaffToken, Tokens: tokens}
	if n := cfg.Checkout.SessionsPerMinute; n > 0 {
		guard.Limiter = access.NewRateLimiter(n, trusted)
	}
	rtcCfg := cfg.WebRTC.service()
	if node != nil {
		rtcCfg.Elsewhere = node // a new camera this node cannot take goes to a node with room
	}
	rtc, err := signaling.NewService(rtcCfg, manager, checkouts, outputs, guard, log)
	if err != nil {
		return fmt.Errorf("webrtc: %w", err)
	}
	defer rtc.Close() // first: live pipelines stop before the sessions and catalogs
	var directory nodes = &cluster.Standalone{Name: cfg.NodeName, URL: cfg.NodeURL, Version: version,
		Started: time.Now().UTC(), Report: report(cfg, checkouts, rtc)}
	if node != nil {
		// The name is claimed before anything runs: another live node with it stops this one.
		if err := node.Join(report(cfg, checkouts, rtc)); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		directory = node
	}

	watchErr := make(chan error, 1)
	go func() { watchErr <- manager.Watch(ctx) }()
	srv := &web.Server{Pipelines: manager, Checkout: checkouts, Logger: log,
		UploadLimit: cfg.Checkout.MaxUploadMB << 20, UploadDir: cfg.Checkout.UploadDir,
		Catalog: catalog, PipelineAdmin: manager, Guard: guard, WebRTC: rtc, CORSOrigins: cfg.CORSOrigins,
		IdleTimeout: cfg.IdleTimeout, BodyStallTimeout: cfg.BodyStallTimeout,
		PipelinesReadOnly: cfg.PipelinesAPI == pipelinesReadOnly, Nodes: directory, Store: cfg.Store.settings()}
	serveErr := serveHTTP(ctx, srv, cfg, version, log)
	cancel() // the directory watch ends with the server
	if err := <-watchErr; err != nil {
		return errors.Join(fmt.Errorf("pipeline directory: %w", err), serveErr)
	}
	return serveErr
}

// newCheckout starts the session manager, with the catalog its upload pipeline counts from
// (checkout.OpenCatalog; a replica of catalogURL when set), which it returns too.
func newCheckout(cfg CheckoutConfig, catalogURL string, video checkout.StationVideo, events checkout.EventSink, log *slog.Logger) (*checkout.Manager, *data.Catalog, error) {
	spec, err := pipelines.LoadFile(cfg.Pipeline)
	if err != nil {
		return nil, nil, err
	}
	cat, err := checkout.OpenCatalog(spec, catalogURL, log)
	if err != nil {
		return nil, nil, err
	}
	queued := cfg.QueueUploads
	if queued == 0 {
		queued = -1 // the manager reads 0 as "default"
	}
	maxW, maxH, err := cfg.maxVideoSize() // checked by LoadConfig
	if err != nil {
		return nil, nil, err
	}
	mgr, err := checkout.NewManager(checkout.Config{
		Pipeline: spec, Store: cat, MaxSessions: cfg.MaxSessions, IdleTTL: cfg.SessionTTL, UnusedTTL: cfg.UnusedTTL,
		MaxRunningTasks: cfg.MaxUploads, MaxQueuedTasks: queued, MaxVideoLength: cfg.MaxVideo,
		MaxVideoWidth: maxW, MaxVideoHeight: maxH, MaxVideoFPS: cfg.MaxVideoFPS, StationVideo: video, Events: events, Logger: log,
		History: cat, HistoryRetention: cfg.HistoryRetention, Currency: cfg.currency,
	})
	if err != nil {
		return nil, nil, err
	}
	return mgr, cat, nil
}

// adminTokenFile is where a generated admin token is written (relative to the working
// directory), readable by the server's user only.
const adminTokenFile = "var/admin-token"

// tokensFile keeps the admin's named tokens (their digests, never the tokens), this server's
// own (see access.Tokens).
const tokensFile = "var/tokens.json"

// adminToken returns the configured token or, without one, a new token written to
// adminTokenFile: never to the log.
func adminToken(configured string, log *slog.Logger) (string, error) {
	if configured != "" {
		return configured, nil
	}
	token, err := randomToken()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(adminTokenFile), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(adminTokenFile, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	log.Warn("no admin_token configured: a new one was generated (set admin_token or EBRCS_ADMIN_TOKEN to choose one)", "file", adminTokenFile)
	return token, nil
}

// randomToken is 32 hex characters (128 random bits).
func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
