package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// media_dir and pipelines_api: defaults, file, environment and flag, and bad values refused.
func TestConfigPipelinesAPIAndMediaDir(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml"), none, nil)
	if err != nil || cfg.MediaDir != "media" || cfg.PipelinesAPI != "read-write" {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	file := filepath.Join(t.TempDir(), "ebrcs.yaml")
	os.WriteFile(file, []byte("media_dir: /srv/videos\npipelines_api: read-only\n"), 0o644)
	if cfg, err = LoadConfig(file, none, nil); err != nil || cfg.MediaDir != "/srv/videos" || cfg.PipelinesAPI != "read-only" {
		t.Fatalf("file: %+v %v", cfg, err)
	}
	env := map[string]string{"EBRCS_MEDIA_DIR": "/env/media", "EBRCS_PIPELINES_API": "read-write"}
	if cfg, err = LoadConfig(file, func(k string) string { return env[k] }, nil); err != nil || cfg.MediaDir != "/env/media" || cfg.PipelinesAPI != "read-write" {
		t.Fatalf("environment: %+v %v", cfg, err)
	}
	flags := map[string]string{"media_dir": "/flag/media", "pipelines_api": "read-only"}
	if cfg, err = LoadConfig(file, func(k string) string { return env[k] }, flags); err != nil || cfg.MediaDir != "/flag/media" || cfg.PipelinesAPI != "read-only" {
		t.Fatalf("flags: %+v %v", cfg, err)
	}
	if _, err := LoadConfig(file, none, map[string]string{"pipelines_api": "readonly"}); err == nil || !strings.Contains(err.Error(), "pipelines_api") {
		t.Fatalf("a bad pipelines_api: %v", err)
	}
	os.WriteFile(file, []byte("media_dir: \"\"\n"), 0o644)
	if _, err := LoadConfig(file, none, nil); err == nil || !strings.Contains(err.Error(), "media_dir") {
		t.Fatalf("an empty media_dir: %v", err)
	}
	// The shipped configuration documents and sets both.
	raw, err := os.ReadFile("../configs/ebrcs.yaml")
	if err != nil || !strings.Contains(string(raw), "\npipelines_api: read-write\n") || !strings.Contains(string(raw), "\nmedia_dir: media\n") ||
		!strings.Contains(string(raw), "EBRCS_MEDIA_DIR, flag: --media-dir") || !strings.Contains(string(raw), "EBRCS_PIPELINES_API, flag: --pipelines-api") {
		t.Fatalf("configs/ebrcs.yaml does not document media_dir and pipelines_api (%v)", err)
	}
	if _, err := LoadConfig("../configs/ebrcs.yaml", none, nil); err != nil {
		t.Fatalf("the shipped configuration: %v", err)
	}
}
