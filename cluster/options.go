package cluster

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"
)

// Options configure a Node. Zero values take the defaults in parentheses.
type Options struct {
	// URL is the NATS server (nats://host:4222; several, comma-separated, for a NATS cluster).
	URL string
	// Name is the node's name, unique among the nodes: the second token of its events'
	// subjects and its key in the presence bucket (ValidName).
	Name string
	// NodeURL is where browsers and WHIP clients reach this node (http[s]://host:port), for
	// other nodes' redirects and /api/nodes.
	NodeURL string
	// QueueDir holds the on-disk queue of events waiting for the broker, and the node's
	// instance id; one node per directory (it is locked) (var/events).
	QueueDir string
	// QueueMaxBytes bounds the queue; beyond it events are dropped and counted (256 MiB).
	QueueMaxBytes int64
	// Stream is the JetStream stream of the events (EBRCS); its subjects are "ebrcs.>".
	Stream string
	// StreamMaxAge is how long the stream keeps events (7 days).
	StreamMaxAge time.Duration
	// Bucket is the JetStream key-value bucket of the nodes' presence (ebrcs_nodes).
	Bucket string
	// PresenceTTL is how long a node stays present without a heartbeat (15s); Heartbeat is
	// how often it refreshes its entry (PresenceTTL/3).
	PresenceTTL, Heartbeat time.Duration
	// ConnectWait is how long start-up waits for the broker to claim the node's name (10s);
	// a broker still away then: the node starts, queues its events and claims its name when
	// the broker comes.
	ConnectWait time.Duration
	// Version is the server's version, shown in /api/nodes.
	Version string
	Logger  *slog.Logger
}

// Defaults of Options.
const (
	DefaultStream        = "EBRCS"
	DefaultBucket        = "ebrcs_nodes"
	DefaultQueueMaxBytes = 256 << 20
	DefaultPresenceTTL   = 15 * time.Second
	DefaultStreamMaxAge  = 7 * 24 * time.Hour
	// SubjectPrefix is the first token of every event's subject.
	SubjectPrefix = "ebrcs"
)

func (o Options) withDefaults() Options {
	if o.QueueDir == "" {
		o.QueueDir = "var/events"
	}
	if o.QueueMaxBytes <= 0 {
		o.QueueMaxBytes = DefaultQueueMaxBytes
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.StreamMaxAge <= 0 {
		o.StreamMaxAge = DefaultStreamMaxAge
	}
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.PresenceTTL <= 0 {
		o.PresenceTTL = DefaultPresenceTTL
	}
	if o.Heartbeat <= 0 || o.Heartbeat > o.PresenceTTL/2 {
		o.Heartbeat = o.PresenceTTL / 3
	}
	if o.ConnectWait <= 0 {
		o.ConnectWait = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidName checks a node name: 1 to 64 letters, digits, '-' and '_' (a NATS subject token
// and a key-value key).
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("node name %q: want 1 to 64 letters, digits, '-' or '_'", name)
	}
	return nil
}

// DefaultName is the host name made a valid node name: its first label, other characters
// replaced by '-'.
func DefaultName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "ebrcs"
	}
	host, _, _ = strings.Cut(host, ".")
	name := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, host)
	if len(name) > 64 {
		name = name[:64]
	}
	if name == "" {
		return "ebrcs"
	}
	return name
}
