package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The file, then the environment, then flags; a misspelt key and a bad level are refused.
func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ebrcs.yaml")
	os.WriteFile(file, []byte("addr: \":9000\"\npipelines: /srv/p\n"), 0o644)
	env := map[string]string{"EBRCS_PIPELINES": "/env/p", "EBRCS_LOG_LEVEL": "debug"}
	cfg, err := LoadConfig(file, func(k string) string { return env[k] }, map[string]string{"log_level": "warn"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9000" || cfg.Pipelines != "/env/p" || cfg.LogLevel != "warn" {
		t.Fatalf("config %+v", cfg)
	}
	os.WriteFile(file, []byte("adr: \":9000\"\n"), 0o644)
	if _, err := LoadConfig(file, func(string) string { return "" }, nil); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("misspelt key: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "none.yaml"), func(string) string { return "" }, map[string]string{"log_level": "loud"}); err == nil {
		t.Fatal("bad log level accepted")
	}
}
