package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// config is the server configuration; configs/ebrcs.yaml documents every field.
type config struct {
	Addr      string         `yaml:"addr"`
	Pipelines string         `yaml:"pipelines"`
	LogLevel  string         `yaml:"log_level"`
	Checkout  checkoutConfig `yaml:"checkout"`
}

// checkoutConfig is the `checkout:` section: sessions and video uploads.
type checkoutConfig struct {
	Pipeline     string        `yaml:"pipeline"`
	MaxSessions  int           `yaml:"max_sessions"`
	SessionTTL   time.Duration `yaml:"session_ttl"`
	MaxUploadMB  int64         `yaml:"max_upload_mb"`
	UploadDir    string        `yaml:"upload_dir"`
	MaxUploads   int           `yaml:"max_concurrent_uploads"`
	QueueUploads int           `yaml:"max_queued_uploads"`
}

var defaultConfig = config{Addr: ":8080", Pipelines: "configs/pipelines", LogLevel: "info",
	Checkout: checkoutConfig{Pipeline: "configs/pipelines/checkout.yaml", MaxSessions: 64, SessionTTL: 30 * time.Minute,
		MaxUploadMB: 512, UploadDir: "var/uploads", MaxUploads: 1, QueueUploads: 4}}

// envNames maps config keys to their environment variables.
var envNames = map[string]string{"addr": "EBRCS_ADDR", "pipelines": "EBRCS_PIPELINES", "log_level": "EBRCS_LOG_LEVEL",
	"checkout_pipeline": "EBRCS_CHECKOUT_PIPELINE"}

// loadConfig layers defaults, the file (if it exists), the environment, then non-empty flags.
func loadConfig(file string, getenv func(string) string, flags map[string]string) (config, error) {
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
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return cfg, err
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
	case c.QueueUploads < 0:
		return cfg, fmt.Errorf("%s: checkout.max_queued_uploads: %d, want 0 or more", file, c.QueueUploads)
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

func newLogger(w io.Writer, level string) *slog.Logger {
	l, _ := parseLevel(level)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// quietLogger logs only warnings and errors: `ebrcs run` prints its own summary.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
