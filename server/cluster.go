package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/cluster"
	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/web"
)

// checkCluster fills in the node's name and URL and checks the cluster options (LoadConfig).
func (c *Config) checkCluster() error {
	if c.NodeName == "" {
		c.NodeName = cluster.DefaultName()
	}
	if err := cluster.ValidName(c.NodeName); err != nil {
		return fmt.Errorf("node_name: %w", err)
	}
	if c.NodeURL == "" {
		c.NodeURL = c.defaultNodeURL()
	}
	if u, err := url.Parse(c.NodeURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("node_url: %q, want http[s]://host[:port], where browsers reach this server", c.NodeURL)
	}
	c.NodeURL = strings.TrimRight(c.NodeURL, "/")
	if c.EventsURL != "" {
		for _, one := range strings.Split(c.EventsURL, ",") {
			u, err := url.Parse(strings.TrimSpace(one))
			if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
				return fmt.Errorf("events_url: %q, want nats://host:port (a NATS server with JetStream)", c.EventsURL)
			}
		}
	}
	if c.CatalogURL != "" {
		u, err := url.Parse(c.CatalogURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return errors.New("catalog_url: want postgres://user@host:5432/database (a PostgreSQL database)")
		}
	}
	k := c.Cluster
	switch {
	case k.QueueDir == "":
		return errors.New("cluster.queue_dir: empty; name the directory where events wait for the broker")
	case k.QueueMaxMB < 1:
		return fmt.Errorf("cluster.queue_max_mb: %d, want at least 1", k.QueueMaxMB)
	case k.Stream == "" || strings.ContainsAny(k.Stream, ".*> "):
		return fmt.Errorf("cluster.stream: %q, want a name without '.', '*', '>' or spaces", k.Stream)
	case k.Bucket == "" || strings.ContainsAny(k.Bucket, ".*> "):
		return fmt.Errorf("cluster.bucket: %q, want a name without '.', '*', '>' or spaces", k.Bucket)
	case k.StreamMaxAge < time.Minute:
		return fmt.Errorf("cluster.stream_max_age: %v, want at least 1m", k.StreamMaxAge)
	case k.PresenceTTL < time.Second:
		return fmt.Errorf("cluster.presence_ttl: %v, want at least 1s", k.PresenceTTL)
	case k.Heartbeat <= 0 || k.Heartbeat > k.PresenceTTL/2:
		return fmt.Errorf("cluster.heartbeat: %v, want more than 0 and at most half of presence_ttl (%v)", k.Heartbeat, k.PresenceTTL)
	}
	return nil
}

// defaultNodeURL is http[s]://HOST:PORT with the listen address's host, or this machine's name
// when it listens on every address.
func (c *Config) defaultNodeURL() string {
	scheme := "http"
	if c.TLSCert != "" || c.TLSSelfSigned {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if host, err = os.Hostname(); err != nil {
			host = "localhost"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// nodes is what the server needs of the cluster: the nodes for /api/nodes and a node with
// room for a camera this one cannot take.
type nodes interface {
	web.NodeDirectory
	signaling.Elsewhere
}

var (
	_ nodes = (*cluster.Node)(nil)
	_ nodes = (*cluster.Standalone)(nil)
)

// openCluster connects to the events broker when events_url is set: it returns where the
// node's events go (nil: nowhere, a single server) and the node (nil without a broker), which
// Run closes after the checkout so that the sessions' last events are queued.
func openCluster(cfg Config, version string, log *slog.Logger) (checkout.EventSink, *cluster.Node, error) {
	if cfg.EventsURL == "" {
		return nil, nil, nil
	}
	k := cfg.Cluster
	node, err := cluster.Open(cluster.Options{URL: cfg.EventsURL, Name: cfg.NodeName, NodeURL: cfg.NodeURL,
		QueueDir: k.QueueDir, QueueMaxBytes: k.QueueMaxMB << 20, Stream: k.Stream, StreamMaxAge: k.StreamMaxAge,
		Bucket: k.Bucket, PresenceTTL: k.PresenceTTL, Heartbeat: k.Heartbeat, Version: version, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	log.Info("events go to the broker", "node", cfg.NodeName, "events_url", redactURL(cfg.EventsURL), "stream", k.Stream)
	return node.Events(), node, nil
}

// report is what the node tells the others with every heartbeat: its sessions against their
// limit, its live cameras against their admission limit, whether it has room for another
// camera, and its stations.
func report(cfg Config, checkouts *checkout.Manager, rtc *signaling.Service) func() cluster.Report {
	return func() cluster.Report {
		stations := checkouts.Stations()
		ids := make([]string, len(stations))
		for i, st := range stations {
			ids[i] = st.ID
		}
		publishers, limit := rtc.Admission()
		l := cluster.Load{Sessions: checkouts.Sessions() - len(stations), MaxSessions: cfg.Checkout.MaxSessions,
			Publishers: publishers, MaxPublishers: max(limit, 0)}
		l.Room = l.Sessions < l.MaxSessions && (l.MaxPublishers == 0 || l.Publishers < l.MaxPublishers)
		return cluster.Report{Load: l, Stations: ids}
	}
}

// redactURL hides the passwords of broker URLs (nats://user:password@host, comma-separated).
func redactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, one := range parts {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil {
			parts[i] = "(unparsable)"
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
