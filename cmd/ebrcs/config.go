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

	"gopkg.in/yaml.v3"
)

// config is the server configuration; configs/ebrcs.yaml documents every field.
type config struct {
	Addr      string `yaml:"addr"`
	Pipelines string `yaml:"pipelines"`
	LogLevel  string `yaml:"log_level"`
}

var defaultConfig = config{Addr: ":8080", Pipelines: "configs/pipelines", LogLevel: "info"}

// envNames maps config keys to their environment variables.
var envNames = map[string]string{"addr": "EBRCS_ADDR", "pipelines": "EBRCS_PIPELINES", "log_level": "EBRCS_LOG_LEVEL"}

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
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return cfg, err
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
