// Package metrics holds EBRCS's Prometheus metrics, in one registry that /metrics serves.
//
// The instruments live here, not in the packages that update them, so that the whole list can
// be read in one place and every package can record without importing the web server.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Registry is what /metrics serves (the web server adds its own collectors to it).
var Registry = prometheus.NewRegistry()

// latencyBuckets cover 0.1 ms to 2.5 s.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

var (
	// PipelineFrames counts frames leaving each pipeline's source (at="source") and reaching
	// its sink (at="sink"), by pipeline name; a live session's pipeline counts under its
	// template's name ("live"), so the series stay few however many sessions come and go.
	PipelineFrames = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebrcs_pipeline_frames_total",
		Help: "Frames out of each pipeline's source (at=source) and into its sink (at=sink)."}, []string{"pipeline", "at"})
	// PipelineDropped counts frames that a pipeline's leaky queues dropped: the analysis or
	// the encoder could not keep up, and the newest frame won.
	PipelineDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebrcs_pipeline_dropped_frames_total",
		Help: "Frames dropped by each pipeline's leaky queues (latest frame wins)."}, []string{"pipeline"})
	// PipelineLateAnalysed counts late frames a live source let in all the same, because its
	// analysis had gone max_gap without a frame: the machine is saturated.
	PipelineLateAnalysed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebrcs_pipeline_late_analysed_frames_total",
		Help: "Late frames (older than the source's max_delay) analysed all the same after max_gap without one."}, []string{"pipeline"})

	// ElementFrames counts frames through each Go element (by factory name), and
	// ElementErrors the frames whose processing failed.
	ElementFrames = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebrcs_element_frames_total",
		Help: "Frames processed by each EBRCS element."}, []string{"element"})
	ElementErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebrcs_element_errors_total",
		Help: "Frames an EBRCS element failed to process."}, []string{"element"})
	// ElementSeconds is each element's processing time per frame.
	ElementSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ebrcs_element_processing_seconds",
		Help: "Processing time of one frame in each EBRCS element.", Buckets: latencyBuckets}, []string{"element"})

	// EmbedSeconds is the embedder's time per batch, EmbedBatch its batch sizes.
	EmbedSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ebrcs_embedding_seconds",
		Help: "Time to embed one batch of crops.", Buckets: latencyBuckets})
	EmbedBatch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ebrcs_embedding_batch_size",
		Help: "Crops per embedding batch.", Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 32}})

	// MatchScore is the best product's score of every recognition, by the visit's decision
	// so far (outcome: count, ask, unknown).
	MatchScore = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ebrcs_match_score",
		Help:    "Score of the best product of each recognition (the visit's evidence so far), by its decision: count, ask, unknown.",
		Buckets: []float64{.3, .4, .5, .55, .6, .65, .7, .75, .8, .85, .9, .95, 1}}, []string{"outcome"})

	// CounterEvents counts the counter's decisions: count, cooldown, review, unknown.
	CounterEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebrcs_counter_events_total",
		Help: "Decisions of ebrcs_counter, one per visit: products counted, recognised within the cooldown, asked about (reviews), unknown objects."}, []string{"event"})

	// SessionsCreated and SessionsEnded count checkout sessions (ended by reason).
	SessionsCreated = prometheus.NewCounter(prometheus.CounterOpts{Name: "ebrcs_sessions_created_total",
		Help: "Checkout sessions created (stations included)."})
	SessionsEnded = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebrcs_sessions_ended_total",
		Help: "Checkout sessions ended, by reason."}, []string{"reason"})

	// WebRTCConnections counts WHIP and WHEP connections by kind and how they ended.
	WebRTCConnections = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ebrcs_webrtc_connections_total",
		Help: "WebRTC connections opened (outcome=opened) and closed, by kind (whip, whep)."}, []string{"kind", "outcome"})

	// HTTPSeconds is the duration of HTTP requests by route and status code.
	HTTPSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ebrcs_http_request_duration_seconds",
		Help: "HTTP request durations (event streams: until the stream ends).", Buckets: latencyBuckets},
		[]string{"method", "route", "code"})
)

func init() {
	Registry.MustRegister(PipelineFrames, PipelineDropped, PipelineLateAnalysed, ElementFrames, ElementErrors, ElementSeconds, EmbedSeconds, EmbedBatch, MatchScore,
		CounterEvents, SessionsCreated, SessionsEnded, WebRTCConnections, HTTPSeconds)
}

// Since observes the time since start on h (a helper for deferred timing).
func Since(h prometheus.Observer, start time.Time) { h.Observe(time.Since(start).Seconds()) }
