package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The catalog of record: none by default (the shipped file is a single server); from the
// file, the environment or a flag; anything but a postgres:// URL refused without echoing it
// (it may hold a password).
func TestConfigCatalogURL(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := LoadConfig("../configs/ebrcs.yaml", none, nil)
	if err != nil || cfg.CatalogURL != "" {
		t.Fatalf("shipped: %q, %v", cfg.CatalogURL, err)
	}
	file := filepath.Join(t.TempDir(), "ebrcs.yaml")
	os.WriteFile(file, []byte("catalog_url: postgres://file@db:5432/ebrcs\n"), 0o644)
	if cfg, err = LoadConfig(file, none, nil); err != nil || cfg.CatalogURL != "postgres://file@db:5432/ebrcs" {
		t.Fatalf("file: %q, %v", cfg.CatalogURL, err)
	}
	env := map[string]string{"EBRCS_CATALOG_URL": "postgresql://env@db/ebrcs"}
	if cfg, err = LoadConfig(file, func(k string) string { return env[k] }, nil); err != nil || cfg.CatalogURL != "postgresql://env@db/ebrcs" {
		t.Fatalf("env: %q, %v", cfg.CatalogURL, err)
	}
	cfg, err = LoadConfig(file, func(k string) string { return env[k] }, map[string]string{"catalog_url": "postgres://flag@db/ebrcs"})
	if err != nil || cfg.CatalogURL != "postgres://flag@db/ebrcs" {
		t.Fatalf("flag: %q, %v", cfg.CatalogURL, err)
	}
	os.WriteFile(file, []byte("catalog_url: mysql://u:s3cret@db/ebrcs\n"), 0o644)
	if _, err := LoadConfig(file, none, nil); err == nil || !strings.Contains(err.Error(), "catalog_url") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a MySQL URL: %v, want an error naming catalog_url without the password", err)
	}
}
