package metrics

import "github.com/prometheus/client_golang/prometheus"

// The events' way out of the node and the nodes' presence (package cluster; more than one
// server). Nothing moves on a single server.
var (
	// EventsPublished counts the events the broker acknowledged (stored in the stream).
	EventsPublished = prometheus.NewCounter(prometheus.CounterOpts{Name: "ebrcs_events_published_total",
		Help: "Events the broker acknowledged (stored in the JetStream stream)."})
	// EventsDropped counts the events that were never queued, by reason: queue_full (the
	// on-disk queue reached its bound while the broker was away), error (the queue could not
	// write them: a full or failing disk) or rejected (the broker refused one for good).
	EventsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebrcs_events_dropped_total",
		Help: "Events lost: queue_full (the on-disk queue's bound was reached), error (it could not be written), rejected (the broker refused it)."},
		[]string{"reason"})
	// EventsQueued and EventsQueuedBytes are what waits in the on-disk queue for the broker.
	EventsQueued = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ebrcs_events_queued",
		Help: "Events waiting in the on-disk queue for the broker."})
	EventsQueuedBytes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ebrcs_events_queued_bytes",
		Help: "Bytes waiting in the on-disk queue for the broker."})
	// EventsBrokerConnected is 1 while the node is connected to the broker.
	EventsBrokerConnected = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ebrcs_events_broker_connected",
		Help: "1 while connected to the events broker (NATS), else 0."})
	// Nodes is how many nodes this node sees present (itself included).
	Nodes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ebrcs_nodes",
		Help: "Nodes present in the cluster, as this node sees them (itself included)."})
)

func init() {
	for _, reason := range []string{"queue_full", "error", "rejected"} {
		EventsDropped.WithLabelValues(reason) // every series from the start, at 0
	}
	Registry.MustRegister(EventsPublished, EventsDropped, EventsQueued, EventsQueuedBytes, EventsBrokerConnected, Nodes)
}
