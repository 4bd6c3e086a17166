package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/cluster"
)

// More than one server: none by default (the shipped file is a single node named after the
// host); the node's name, URL and broker from the file, the environment or flags; bad values
// refused naming the option.
func TestConfigCluster(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := LoadConfig("../configs/ebrcs.yaml", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EventsURL != "" || cfg.NodeName != cluster.DefaultName() || !strings.HasSuffix(cfg.NodeURL, ":8080") ||
		cfg.Cluster.QueueDir != "var/events" || cfg.Cluster.PresenceTTL != 15*time.Second || cfg.Cluster.Heartbeat != 5*time.Second ||
		cfg.Cluster.Stream != "EBRCS" || cfg.Cluster.QueueMaxMB != 256 {
		t.Fatalf("shipped: %+v %+v", cfg, cfg.Cluster)
	}
	file := filepath.Join(t.TempDir(), "ebrcs.yaml")
	os.WriteFile(file, []byte("addr: 127.0.0.1:9001\nnode_name: from-file\ncluster:\n  presence_ttl: 6s\n  heartbeat: 1s\n"), 0o644)
	env := map[string]string{"EBRCS_EVENTS_URL": "nats://broker:4222", "EBRCS_NODE_NAME": "from-env"}
	cfg, err = LoadConfig(file, func(k string) string { return env[k] }, map[string]string{"node_name": "from-flag"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "from-flag" || cfg.EventsURL != "nats://broker:4222" || cfg.NodeURL != "http://127.0.0.1:9001" ||
		cfg.Cluster.PresenceTTL != 6*time.Second || cfg.Cluster.Heartbeat != time.Second {
		t.Fatalf("layered: %q %q %q %+v", cfg.NodeName, cfg.EventsURL, cfg.NodeURL, cfg.Cluster)
	}
	for body, option := range map[string]string{
		"node_name: a.b\n":                 "node_name",
		"node_url: ftp://x\n":              "node_url",
		"node_url: http://x/path\n":        "node_url",
		"events_url: http://broker:4222\n": "events_url",
		"cluster:\n  queue_max_mb: 0\n":    "cluster.queue_max_mb",
		"cluster:\n  stream: a.b\n":        "cluster.stream",
		"cluster:\n  presence_ttl: 10ms\n": "cluster.presence_ttl",
		"cluster:\n  heartbeat: 10s\n":     "cluster.heartbeat",
		"cluster:\n  queue_dir: \"\"\n":    "cluster.queue_dir",
		"cluster:\n  stream_max_age: 1s\n": "cluster.stream_max_age",
		"cluster:\n  bucket: \"a b\"\n":    "cluster.bucket",
	} {
		os.WriteFile(file, []byte(body), 0o644)
		if _, err := LoadConfig(file, none, nil); err == nil || !strings.Contains(err.Error(), option) {
			t.Errorf("%q: %v, want an error naming %s", body, err, option)
		}
	}
	if got := redactURL("nats://ebrcs:s3cret@a:4222,nats://b:4222"); strings.Contains(got, "s3cret") || !strings.Contains(got, "nats://b:4222") {
		t.Fatalf("redacted: %s", got)
	}
}
