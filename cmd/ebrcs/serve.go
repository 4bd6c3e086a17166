package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/internal/malloctune"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/recognition"
	"github.com/ebrcs/ebrcs/signaling"
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
	adminToken := fs.String("admin-token", "", "token the admin API requires (default from config; none: one is generated and logged)")
	tlsCert := fs.String("tls-cert", "", "certificate file (PEM) to serve HTTPS, with --tls-key")
	tlsKey := fs.String("tls-key", "", "private key file (PEM) of --tls-cert")
	tlsSelfSigned := fs.Bool("tls-self-signed", false, "serve HTTPS with a self-signed certificate generated at startup")
	mediaDir := fs.String("media-dir", "", "the only directory pipelines sent through the API may read videos from (default from config: media)")
	pipelinesAPI := fs.String("pipelines-api", "", "read-write or read-only: whether admins may PUT pipeline definitions (default from config: read-write)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	flags := map[string]string{"addr": *addr, "pipelines": *dir, "log_level": *level, "checkout_pipeline": *checkoutPipeline,
		"admin_token": *adminToken, "tls_cert": *tlsCert, "tls_key": *tlsKey,
		"media_dir": *mediaDir, "pipelines_api": *pipelinesAPI}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "tls-self-signed" {
			flags["tls_self_signed"] = strconv.FormatBool(*tlsSelfSigned)
		}
	})
	cfg, err := loadConfig(*configFile, os.Getenv, flags)
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
	// Sessions come and go all day; without this the native heap keeps their freed memory.
	go malloctune.TrimEvery(ctx, 30*time.Second)

	// Deferred in this order so that the pipelines stop before the shared catalogs and
	// embedders they use are closed.
	defer recognition.CloseAll()
	checkouts, catalog, err := newCheckout(cfg.Checkout, log)
	if err != nil {
		log.Error("checkout", "error", err)
		return 1
	}
	defer checkouts.Close()

	var rtc *signaling.Service
	// Standing pipelines that count (cameras) are checkout stations: sessions of their own.
	// Definitions sent through the API may read videos from media_dir only, and no other file
	// (pipelines.Policy); the directory's own files are the operator's.
	manager := pipelines.NewManager(cfg.Pipelines, pipelines.SupervisorOptions{MaxRestarts: -1, Logger: log,
		Bind: stationBinder(checkouts, func() *signaling.Service { return rtc }, log), APIPolicy: &pipelines.Policy{MediaDir: cfg.MediaDir}})
	defer manager.Close() // before checkouts.Close: deferred later, runs earlier
	watchErr := make(chan error, 1)

	token := cfg.AdminToken
	if token == "" {
		if token, err = randomToken(); err != nil {
			log.Error("admin token", "error", err)
			return 1
		}
		// Never in a log line: the token goes to a file only the server's user can read.
		if err := os.MkdirAll("var", 0o755); err != nil {
			log.Error("admin token", "error", err)
			return 1
		}
		if err := os.WriteFile(adminTokenFile, []byte(token+"\n"), 0o600); err != nil {
			log.Error("admin token", "error", err)
			return 1
		}
		log.Warn("no admin_token configured: a new one was generated (set admin_token or EBRCS_ADMIN_TOKEN to choose one)", "file", adminTokenFile)
	}
	// One guard for every door to a session: the HTTP API and WHIP/WHEP.
	trusted, _ := cfg.trustedProxies() // checked by loadConfig
	guard := &access.Guard{AdminToken: token}
	if n := cfg.Checkout.SessionsPerMinute; n > 0 {
		guard.Limiter = access.NewRateLimiter(n, trusted)
	}
	rtc, err = signaling.NewService(cfg.WebRTC.service(), manager, checkouts, guard, log)
	if err != nil {
		log.Error("webrtc", "error", err)
		return 1
	}
	defer rtc.Close() // first: live pipelines stop before the sessions and catalogs
	// Standing pipelines start only now: a camera station's whep sink needs the WebRTC service.
	go func() { watchErr <- manager.Watch(ctx) }()
	srv := &web.Server{Pipelines: manager, Checkout: checkouts, Logger: log,
		UploadLimit: cfg.Checkout.MaxUploadMB << 20, UploadDir: cfg.Checkout.UploadDir,
		Catalog: catalog, PipelineAdmin: manager, Guard: guard, WebRTC: rtc, CORSOrigins: cfg.CORSOrigins,
		IdleTimeout: cfg.IdleTimeout, BodyStallTimeout: cfg.BodyStallTimeout,
		PipelinesReadOnly: cfg.PipelinesAPI == pipelinesReadOnly}
	serveErr := serveHTTP(ctx, srv, cfg, log)
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

// serveHTTP serves srv until ctx ends: HTTPS with the configured certificate or a
// self-signed one, else plain HTTP.
func serveHTTP(ctx context.Context, srv *web.Server, cfg config, log *slog.Logger) error {
	var cert tls.Certificate
	var err error
	scheme := "http"
	switch {
	case cfg.TLSCert != "":
		if cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		scheme = "https"
	case cfg.TLSSelfSigned:
		if cert, err = web.SelfSignedCertificate(certHosts(cfg.Addr)); err != nil {
			return fmt.Errorf("self-signed certificate: %w", err)
		}
		sum := sha256.Sum256(cert.Certificate[0])
		log.Info("self-signed certificate", "hosts", append(cert.Leaf.DNSNames, ipStrings(cert.Leaf.IPAddresses)...),
			"sha256", hex.EncodeToString(sum[:]), "expires", cert.Leaf.NotAfter.Format(time.DateOnly))
		scheme = "https"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", cfg.Addr, "scheme", scheme, "pipelines", cfg.Pipelines, "version", version)
	if scheme == "https" {
		return srv.ServeTLS(ctx, ln, cert)
	}
	return srv.Serve(ctx, ln)
}

// certHosts are the names a self-signed certificate should carry besides localhost: the
// listen address's host, this machine's name and its addresses.
func certHosts(addr string) []string {
	var hosts []string
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		hosts = append(hosts, host)
	}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && !ipnet.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, ipnet.IP.String())
			}
		}
	}
	return hosts
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// adminTokenFile is where a generated admin token is written (relative to the working dir).
const adminTokenFile = "var/admin-token"

// randomToken is 32 hex characters (128 random bits).
func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// newCheckout starts the session manager and returns it with its catalog. The catalog it
// stores purchases in and resolves cart edits against is the one the upload pipeline's
// ebrcs_match counts from, so that the two can never disagree; the admin API registers
// products in it too.
func newCheckout(cfg checkoutConfig, log *slog.Logger) (*checkout.Manager, *data.Catalog, error) {
	spec, err := pipelines.LoadFile(cfg.Pipeline)
	if err != nil {
		return nil, nil, err
	}
	// The element's defaults where the file does not set them.
	property := func(name, fallback string) string {
		if v, ok := spec.Property("ebrcs_match", name); ok {
			return v
		}
		return fallback
	}
	catalogDir, embedder, modelDir := property("catalog", "var/catalog"), property("embedder", ""), property("model-dir", "models")
	if !spec.Uses("ebrcs_match") {
		return nil, nil, fmt.Errorf("%s: the checkout pipeline has no ebrcs_match: it could not recognise products", cfg.Pipeline)
	}
	emb, err := recognition.OpenEmbedder(embedder, modelDir)
	if err != nil {
		return nil, nil, err
	}
	cat, err := recognition.OpenCatalog(catalogDir, emb, data.Options{})
	if err != nil {
		return nil, nil, err
	}
	queued := cfg.QueueUploads
	if queued == 0 {
		queued = -1 // the manager reads 0 as "default"
	}
	maxW, maxH, err := cfg.maxVideoSize() // checked by loadConfig
	if err != nil {
		return nil, nil, err
	}
	mgr, err := checkout.NewManager(checkout.Config{
		Pipeline: spec, Store: cat, MaxSessions: cfg.MaxSessions, IdleTTL: cfg.SessionTTL, UnusedTTL: cfg.UnusedTTL,
		MaxRunningTasks: cfg.MaxUploads, MaxQueuedTasks: queued, MaxVideoLength: cfg.MaxVideo,
		MaxVideoWidth: maxW, MaxVideoHeight: maxH, MaxVideoFPS: cfg.MaxVideoFPS, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	return mgr, cat, nil
}

// stationBinder ties every standing pipeline with an ebrcs_counter (an IP camera over a
// counter) to its checkout station: the station's cart and ROI, through the session API, and
// with a whep sink its annotated video for WHEP viewers of the station.
func stationBinder(checkouts *checkout.Manager, rtc func() *signaling.Service, log *slog.Logger) func(*pipelines.Spec, *pipelines.Supervisor) pipelines.Binding {
	return func(spec *pipelines.Spec, sup *pipelines.Supervisor) pipelines.Binding {
		if !spec.Uses("ebrcs_counter") {
			return pipelines.Binding{}
		}
		station, err := checkouts.Station(spec, sup)
		if err != nil {
			log.Error("checkout station", "pipeline", spec.Name, "error", err)
			return pipelines.Binding{}
		}
		b := pipelines.Binding{Configure: station.Bind}
		if spec.Sink.Type == "whep" && rtc() != nil {
			if b.Media, err = rtc().StationOutput(station.ID); err != nil {
				log.Error("checkout station video", "pipeline", spec.Name, "error", err)
			}
		}
		return b
	}
}
