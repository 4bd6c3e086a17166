package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/cluster"
	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/web"
)

// Config is the server configuration; configs/ebrcs.yaml documents every field.
type Config struct {
	Addr      string         `yaml:"addr"`
	Pipelines string         `yaml:"pipelines"`
	LogLevel  string         `yaml:"log_level"`
	Checkout  CheckoutConfig `yaml:"checkout"`
	WebRTC    WebRTCConfig   `yaml:"webrtc"`
	// CORSOrigins may call the API from their own pages; none: same origin only.
	CORSOrigins []string `yaml:"cors_origins"`
	// TrustedProxies (addresses or CIDR prefixes) are reverse proxies whose X-Forwarded-For
	// names the client, for per-client limits.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MediaDir is the only directory a pipeline definition sent through the API may read
	// video files from (file sources' path).
	MediaDir string `yaml:"media_dir"`
	// PipelinesAPI is read-write (PUT /api/pipelines/{name} allowed to admins) or read-only.
	PipelinesAPI string `yaml:"pipelines_api"`

	// AdminToken guards the admin API (and is staff's credential); empty: Run generates one
	// at every start and writes it to var/admin-token, never to the log.
	AdminToken string `yaml:"admin_token"`
	// StaffToken is staff's credential: counting areas, reviews, cart overrides, stations,
	// the checkout page's staff mode (not the catalog or the pipelines). Empty: only the
	// admin token is staff's.
	StaffToken string `yaml:"staff_token"`
	// Store is how the pages show money and whether unpriced carts may be confirmed.
	Store StoreConfig `yaml:"store"`
	// TLSCert and TLSKey (PEM files) serve HTTPS; TLSSelfSigned serves HTTPS with a
	// certificate generated at startup. Neither: plain HTTP.
	TLSCert       string `yaml:"tls_cert"`
	TLSKey        string `yaml:"tls_key"`
	TLSSelfSigned bool   `yaml:"tls_self_signed"`

	// IdleTimeout closes keep-alive connections idle this long; BodyStallTimeout cuts a
	// request whose body stops arriving this long (a slow body that keeps coming is fine).
	IdleTimeout      time.Duration `yaml:"idle_timeout"`
	BodyStallTimeout time.Duration `yaml:"body_stall_timeout"`

	// NodeName names this server among the nodes (default: the host name); NodeURL is where
	// browsers and WHIP clients reach it (default: http[s]://<host name>:<port>).
	NodeName string `yaml:"node_name"`
	NodeURL  string `yaml:"node_url"`
	// EventsURL is the NATS server (nats://host:4222) that every event goes to, where the
	// nodes find each other; empty: a single server, events stay in the process.
	EventsURL string        `yaml:"events_url"`
	Cluster   ClusterConfig `yaml:"cluster"`
	// CatalogURL is the PostgreSQL database (postgres://user@host:5432/db) that is the
	// catalog of record for every node: products, photos, vectors, learned views and
	// purchases; the checkout pipeline's catalog directory then holds this node's replica of
	// it. Empty: the catalog is that directory's own SQLite database (a single server).
	CatalogURL string `yaml:"catalog_url"`
}

// ClusterConfig is the `cluster:` section: tuning for more than one server (events_url set).
type ClusterConfig struct {
	// QueueDir holds the events waiting for the broker (one node per directory); QueueMaxMB
	// bounds it, beyond which events are dropped and counted.
	QueueDir   string `yaml:"queue_dir"`
	QueueMaxMB int64  `yaml:"queue_max_mb"`
	// Stream is the JetStream stream of the events, kept for StreamMaxAge.
	Stream       string        `yaml:"stream"`
	StreamMaxAge time.Duration `yaml:"stream_max_age"`
	// Bucket is the key-value bucket of the nodes' presence; a node missing PresenceTTL of
	// heartbeats (every Heartbeat) is gone.
	Bucket      string        `yaml:"bucket"`
	PresenceTTL time.Duration `yaml:"presence_ttl"`
	Heartbeat   time.Duration `yaml:"heartbeat"`
}

// StoreConfig is the `store:` section.
type StoreConfig struct {
	// Currency is the ISO 4217 code of the prices (EUR); Locale the BCP 47 tag they and dates
	// are written in (de-DE).
	Currency string `yaml:"currency"`
	Locale   string `yaml:"locale"`
	// RequirePrices refuses to confirm a cart that holds a product without a price.
	RequirePrices bool `yaml:"require_prices"`
	// VibrateOnCount asks phones to vibrate briefly on each count; SoundOnCount to play a
	// short tone.
	VibrateOnCount bool `yaml:"vibrate_on_count"`
	SoundOnCount   bool `yaml:"sound_on_count"`
}

func (s StoreConfig) settings() web.StoreSettings {
	return web.StoreSettings{Currency: s.Currency, Locale: s.Locale, RequirePrices: s.RequirePrices, Vibrate: s.VibrateOnCount, Sound: s.SoundOnCount}
}

// localeTag is the shape of a BCP 47 tag: a language, then subtags (script, region, variants).
var localeTag = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// check refuses a currency that is not three letters and a locale that is not a BCP 47 tag.
func (s StoreConfig) check() error {
	if c := s.Currency; c != "" && (len(c) != 3 || strings.ToUpper(c) != c || strings.IndexFunc(c, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0) {
		return fmt.Errorf("store.currency: %q, want an ISO 4217 code such as EUR or USD", c)
	}
	if l := s.Locale; l != "" {
		if !localeTag.MatchString(l) {
			return fmt.Errorf("store.locale: %q, want a BCP 47 tag such as de-DE or en-US", l)
		}
	}
	return nil
}

// minAdminTokenLength keeps a chosen admin token out of reach of guessing.
const minAdminTokenLength = 16

// WebRTCConfig is the `webrtc:` section: how peers reach the server.
type WebRTCConfig struct {
	ICEServers      []string      `yaml:"ice_servers"`
	UDPPortMin      uint16        `yaml:"udp_port_min"`
	UDPPortMax      uint16        `yaml:"udp_port_max"`
	NAT1To1IPs      []string      `yaml:"public_ips"`
	IncludeLoopback bool          `yaml:"include_loopback"`
	ConnectTimeout  time.Duration `yaml:"connect_timeout"`
	// MaxPublishers is the admission limit of live cameras at once (503 with Retry-After
	// beyond); 0: derived from this machine's measured capacity; -1: none.
	MaxPublishers int `yaml:"max_publishers"`
	// CompactAbove is the number of live cameras beyond which the pipelines whose webrtc
	// sink size is auto send their video back compact; 0: three quarters of what the machine
	// serves at the camera's size; -1: never.
	CompactAbove int `yaml:"compact_above"`
	// HalfRateAbove is the number of live cameras beyond which the pipelines whose webrtc
	// sink rate is auto send every other frame back; 0: one and a half times what the
	// machine serves at the camera's size; -1: never.
	HalfRateAbove int `yaml:"half_rate_above"`
}

func (w WebRTCConfig) service() signaling.Config {
	return signaling.Config{ICEServers: w.ICEServers, UDPPortMin: w.UDPPortMin, UDPPortMax: w.UDPPortMax,
		NAT1To1IPs: w.NAT1To1IPs, IncludeLoopback: w.IncludeLoopback, ConnectTimeout: w.ConnectTimeout,
		MaxPublishers: w.MaxPublishers, CompactAbove: w.CompactAbove, HalfRateAbove: w.HalfRateAbove}
}

// CheckoutConfig is the `checkout:` section: sessions and video uploads.
type CheckoutConfig struct {
	Pipeline     string        `yaml:"pipeline"`
	MaxSessions  int           `yaml:"max_sessions"`
	SessionTTL   time.Duration `yaml:"session_ttl"`
	MaxUploadMB  int64         `yaml:"max_upload_mb"`
	MaxVideo     time.Duration `yaml:"max_video_length"`
	UploadDir    string        `yaml:"upload_dir"`
	MaxUploads   int           `yaml:"max_concurrent_uploads"`
	QueueUploads int           `yaml:"max_queued_uploads"`
	// UnusedTTL closes a session without media or cart this long after it was made.
	UnusedTTL time.Duration `yaml:"unused_session_ttl"`
	// SessionsPerMinute bounds the sessions one client may start a minute (0: no limit).
	SessionsPerMinute int `yaml:"sessions_per_client_per_minute"`

	// MaxVideoPixels is the largest frame size of an upload, "WIDTHxHEIGHT": at most W×H
	// pixels, no side longer than the longer of the two. MaxVideoFPS is the highest frame rate.
	MaxVideoPixels string  `yaml:"max_video_pixels"`
	MaxVideoFPS    float64 `yaml:"max_video_fps"`

	// HistoryRetention is how long the back office's history keeps every decision of the
	// cameras (with its crop); purchases are kept.
	HistoryRetention time.Duration `yaml:"history_retention"`
	// currency is store.currency, which the history records purchase prices in.
	currency string
}

var defaultConfig = Config{Addr: ":8080", Pipelines: "configs/pipelines", LogLevel: "info",
	MediaDir: "media", PipelinesAPI: pipelinesReadWrite,
	Checkout: CheckoutConfig{Pipeline: "configs/pipelines/checkout.yaml", MaxSessions: 64, SessionTTL: 30 * time.Minute,
		MaxUploadMB: 512, MaxVideo: 30 * time.Minute, MaxVideoPixels: "1920x1080", MaxVideoFPS: 60,
		UploadDir: "var/uploads", MaxUploads: 1, QueueUploads: 4,
		UnusedTTL: 3 * time.Minute, SessionsPerMinute: 6, HistoryRetention: checkout.DefaultHistoryRetention},
	WebRTC:      WebRTCConfig{ConnectTimeout: 20 * time.Second},
	IdleTimeout: web.DefaultIdleTimeout, BodyStallTimeout: web.DefaultBodyStallTimeout,
	Cluster: ClusterConfig{QueueDir: "var/events", QueueMaxMB: cluster.DefaultQueueMaxBytes >> 20, Stream: cluster.DefaultStream,
		StreamMaxAge: cluster.DefaultStreamMaxAge, Bucket: cluster.DefaultBucket, PresenceTTL: cluster.DefaultPresenceTTL,
		Heartbeat: cluster.DefaultPresenceTTL / 3}}

// envNames maps config keys to their environment variables.
var envNames = map[string]string{"addr": "EBRCS_ADDR", "pipelines": "EBRCS_PIPELINES", "log_level": "EBRCS_LOG_LEVEL",
	"checkout_pipeline": "EBRCS_CHECKOUT_PIPELINE", "admin_token": "EBRCS_ADMIN_TOKEN", "staff_token": "EBRCS_STAFF_TOKEN",
	"tls_cert": "EBRCS_TLS_CERT", "tls_key": "EBRCS_TLS_KEY", "tls_self_signed": "EBRCS_TLS_SELF_SIGNED",
	"media_dir": "EBRCS_MEDIA_DIR", "pipelines_api": "EBRCS_PIPELINES_API",
	"node_name": "EBRCS_NODE_NAME", "node_url": "EBRCS_NODE_URL", "events_url": "EBRCS_EVENTS_URL",
	"catalog_url": "EBRCS_CATALOG_URL"}

// The values of pipelines_api.
const (
	pipelinesReadWrite = "read-write"
	pipelinesReadOnly  = "read-only"
)

// LoadConfig layers defaults, the file (if it exists), the environment (getenv), then the
// non-empty flags, and checks the result. flags and the environment are keyed by option
// name, as in the file: addr, pipelines, log_level, checkout_pipeline, admin_token, tls_cert,
// tls_key, tls_self_signed, media_dir, pipelines_api, node_name, node_url, events_url,
// catalog_url.
func LoadConfig(file string, getenv func(string) string, flags map[string]string) (Config, error) {
	cfg := defaultConfig
	raw, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return cfg, err
	default:
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true) // a misspelt option is an error, not silently ignored
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	set := func(key string, dst *string) {
		if v := getenv(envNames[key]); v != "" {
			*dst = v
		}
		if v := flags[key]; v != "" {
			*dst = v
		}
	}
	set("addr", &cfg.Addr)
	set("pipelines", &cfg.Pipelines)
	set("log_level", &cfg.LogLevel)
	set("checkout_pipeline", &cfg.Checkout.Pipeline)
	set("admin_token", &cfg.AdminToken)
	set("staff_token", &cfg.StaffToken)
	set("tls_cert", &cfg.TLSCert)
	set("tls_key", &cfg.TLSKey)
	set("media_dir", &cfg.MediaDir)
	set("pipelines_api", &cfg.PipelinesAPI)
	set("node_name", &cfg.NodeName)
	set("node_url", &cfg.NodeURL)
	set("events_url", &cfg.EventsURL)
	set("catalog_url", &cfg.CatalogURL)
	selfSigned := ""
	set("tls_self_signed", &selfSigned)
	if selfSigned != "" {
		v, err := strconv.ParseBool(selfSigned)
		if err != nil {
			return cfg, fmt.Errorf("tls_self_signed: %q, want true or false", selfSigned)
		}
		cfg.TLSSelfSigned = v
	}
	if cfg.PipelinesAPI != pipelinesReadWrite && cfg.PipelinesAPI != pipelinesReadOnly {
		return cfg, fmt.Errorf("pipelines_api: %q, want %s or %s", cfg.PipelinesAPI, pipelinesReadWrite, pipelinesReadOnly)
	}
	if cfg.MediaDir == "" {
		return cfg, errors.New("media_dir: empty; name the directory the pipelines API may read videos from (default media)")
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return cfg, err
	}
	switch t := cfg.AdminToken; {
	case t != "" && len(t) < minAdminTokenLength:
		return cfg, fmt.Errorf("admin_token: %d characters, want at least %d (or none: one is generated)", len(t), minAdminTokenLength)
	case strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return cfg, errors.New("admin_token: spaces and control characters cannot be sent in a header")
	}
	switch t := cfg.StaffToken; {
	case t != "" && len(t) < minAdminTokenLength:
		return cfg, fmt.Errorf("staff_token: %d characters, want at least %d (or none)", len(t), minAdminTokenLength)
	case strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return cfg, errors.New("staff_token: spaces and control characters cannot be sent in a header")
	case t != "" && t == cfg.AdminToken:
		return cfg, errors.New("staff_token: the same as admin_token; staff's token must differ, or staff would be admin")
	}
	if err := cfg.Store.check(); err != nil {
		return cfg, fmt.Errorf("%s: %w", file, err)
	}
	if cfg.Checkout.HistoryRetention < time.Hour {
		return cfg, fmt.Errorf("%s: checkout.history_retention: %v, want at least 1h", file, cfg.Checkout.HistoryRetention)
	}
	cfg.Checkout.currency = cfg.Store.settings().Currency
	if cfg.Checkout.currency == "" {
		cfg.Checkout.currency = web.DefaultCurrency
	}
	switch {
	case (cfg.TLSCert == "") != (cfg.TLSKey == ""):
		return cfg, errors.New("tls_cert and tls_key: give both (or neither)")
	case cfg.TLSCert != "" && cfg.TLSSelfSigned:
		return cfg, errors.New("tls_cert and tls_self_signed: choose one")
	}
	c := cfg.Checkout
	switch {
	case c.MaxSessions < 1:
		return cfg, fmt.Errorf("%s: checkout.max_sessions: %d, want at least 1", file, c.MaxSessions)
	case c.SessionTTL < time.Second:
		return cfg, fmt.Errorf("%s: checkout.session_ttl: %v, want at least 1s", file, c.SessionTTL)
	case c.MaxUploadMB < 1:
		return cfg, fmt.Errorf("%s: checkout.max_upload_mb: %d, want at least 1", file, c.MaxUploadMB)
	case c.MaxUploads < 1:
		return cfg, fmt.Errorf("%s: checkout.max_concurrent_uploads: %d, want at least 1", file, c.MaxUploads)
	case cfg.WebRTC.UDPPortMin > cfg.WebRTC.UDPPortMax:
		return cfg, fmt.Errorf("%s: webrtc.udp_port_min %d is above udp_port_max %d", file, cfg.WebRTC.UDPPortMin, cfg.WebRTC.UDPPortMax)
	case cfg.WebRTC.ConnectTimeout < time.Second:
		return cfg, fmt.Errorf("%s: webrtc.connect_timeout: %v, want at least 1s", file, cfg.WebRTC.ConnectTimeout)
	case c.QueueUploads < 0:
		return cfg, fmt.Errorf("%s: checkout.max_queued_uploads: %d, want 0 or more", file, c.QueueUploads)
	case cfg.IdleTimeout < time.Second:
		return cfg, fmt.Errorf("%s: idle_timeout: %v, want at least 1s", file, cfg.IdleTimeout)
	case cfg.BodyStallTimeout < time.Second:
		return cfg, fmt.Errorf("%s: body_stall_timeout: %v, want at least 1s", file, cfg.BodyStallTimeout)
	case c.MaxVideo < time.Second:
		return cfg, fmt.Errorf("%s: checkout.max_video_length: %v, want at least 1s", file, c.MaxVideo)
	case c.MaxVideoFPS < 1 || c.MaxVideoFPS > 1000:
		return cfg, fmt.Errorf("%s: checkout.max_video_fps: %v, want 1 to 1000", file, c.MaxVideoFPS)
	case c.UnusedTTL < time.Second:
		return cfg, fmt.Errorf("%s: checkout.unused_session_ttl: %v, want at least 1s", file, c.UnusedTTL)
	case c.SessionsPerMinute < 0:
		return cfg, fmt.Errorf("%s: checkout.sessions_per_client_per_minute: %d, want 0 (no limit) or more", file, c.SessionsPerMinute)
	}
	if _, _, err := c.maxVideoSize(); err != nil {
		return cfg, fmt.Errorf("%s: %w", file, err)
	}
	if _, err := cfg.trustedProxies(); err != nil {
		return cfg, fmt.Errorf("%s: %w", file, err)
	}
	if err := cfg.checkCluster(); err != nil {
		return cfg, fmt.Errorf("%s: %w", file, err)
	}
	return cfg, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger logs key=value lines to w at level (log_level, checked by LoadConfig) and above.
func NewLogger(w io.Writer, level string) *slog.Logger {
	l, _ := parseLevel(level)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// trustedProxies parses trusted_proxies: addresses (one host) or CIDR prefixes.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for i, v := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %q is neither an address nor a CIDR prefix", i, v)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// maxVideoSize parses max_video_pixels: "WIDTHxHEIGHT" ("1920x1080"; "×" works too).
func (c CheckoutConfig) maxVideoSize() (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ReplaceAll(strings.ToLower(c.MaxVideoPixels), "×", "x"), "x")
	w, errW := strconv.Atoi(strings.TrimSpace(ws))
	h, errH := strconv.Atoi(strings.TrimSpace(hs))
	if !ok || errW != nil || errH != nil || w < 16 || h < 16 || w > 16384 || h > 16384 {
		return 0, 0, fmt.Errorf("checkout.max_video_pixels: %q, want WIDTHxHEIGHT like 1920x1080 (16 to 16384 each)", c.MaxVideoPixels)
	}
	return w, h, nil
}
