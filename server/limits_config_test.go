package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The upload and connection limits: the shipped file sets the defaults, a file changes them,
// and impossible values are refused naming the option.
func TestConfigUploadAndConnectionLimits(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := LoadConfig("../configs/ebrcs.yaml", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w, h, err := cfg.Checkout.maxVideoSize(); err != nil || w != 1920 || h != 1080 || cfg.Checkout.MaxVideoFPS != 60 ||
		cfg.IdleTimeout != 60*time.Second || cfg.BodyStallTimeout != 30*time.Second {
		t.Fatalf("shipped: %dx%d %v, fps %v, idle %v, stall %v", w, h, err, cfg.Checkout.MaxVideoFPS, cfg.IdleTimeout, cfg.BodyStallTimeout)
	}
	file := filepath.Join(t.TempDir(), "ebrcs.yaml")
	os.WriteFile(file, []byte("idle_timeout: 2m\nbody_stall_timeout: 5s\ncheckout:\n  max_video_pixels: 1280×720\n  max_video_fps: 30\n"), 0o644)
	cfg, err = LoadConfig(file, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w, h, _ := cfg.Checkout.maxVideoSize(); w != 1280 || h != 720 || cfg.Checkout.MaxVideoFPS != 30 || cfg.IdleTimeout != 2*time.Minute || cfg.BodyStallTimeout != 5*time.Second {
		t.Fatalf("from the file: %dx%d, %+v", w, h, cfg)
	}
	for body, option := range map[string]string{
		"checkout:\n  max_video_pixels: 1920\n":      "checkout.max_video_pixels",
		"checkout:\n  max_video_pixels: 0x1080\n":    "checkout.max_video_pixels",
		"checkout:\n  max_video_pixels: 99999x100\n": "checkout.max_video_pixels",
		"checkout:\n  max_video_fps: 0\n":            "checkout.max_video_fps",
		"idle_timeout: 10ms\n":                       "idle_timeout",
		"body_stall_timeout: 0s\n":                   "body_stall_timeout",
	} {
		os.WriteFile(file, []byte(body), 0o644)
		if _, err := LoadConfig(file, none, nil); err == nil || !strings.Contains(err.Error(), option) {
			t.Errorf("%q: %v, want an error naming %s", body, err, option)
		}
	}
}
