package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebrcs/ebrcs/internal/malloctune"
	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/pipelines"
)

// pipelineStates are every state a pipeline can be in, so that each series exists (at 0)
// and a dashboard can alert on a camera that is "restarting".
var pipelineStates = []pipelines.State{pipelines.StateStarting, pipelines.StateRunning, pipelines.StateRestarting,
	pipelines.StateFinished, pipelines.StateFailed, pipelines.StateStopped, pipelines.StateInvalid, pipelines.StateIdle}

// metricsCollector reads the server's state at scrape time: nothing to keep in sync.
type metricsCollector struct{ s *Server }

var (
	descState    = prometheus.NewDesc("ebrcs_pipeline_state", "1 for the state the pipeline is in (pipeline=\"other\": how many of the pipelines beyond the named ones are in it).", []string{"pipeline", "state"}, nil)
	descRestarts = prometheus.NewDesc("ebrcs_pipeline_restarts_total", "Restarts (reconnects, for cameras) since the pipeline was loaded.", []string{"pipeline"}, nil)
	descSessions = prometheus.NewDesc("ebrcs_checkout_sessions", "Open checkout sessions (stations included).", nil, nil)
	descPeers    = prometheus.NewDesc("ebrcs_webrtc_publishers", "Live WHIP publishers.", nil, nil)
	descPeerPkts = prometheus.NewDesc("ebrcs_webrtc_packets_total", "RTP packets from live publishers, by outcome.", []string{"outcome"}, nil)
	descPeerFrms = prometheus.NewDesc("ebrcs_webrtc_frames_total", "Frames of live publishers, by outcome.", []string{"outcome"}, nil)
	descProducts = prometheus.NewDesc("ebrcs_catalog_products", "Products in the catalog (searchable).", nil, nil)
	descVectors  = prometheus.NewDesc("ebrcs_catalog_vectors", "Vectors in the catalog's index.", nil, nil)
	descReadOnly = prometheus.NewDesc("ebrcs_catalog_read_only", "1 when the data directory was read-only at start: changes and purchases are refused.", nil, nil)
	descStorErrs = prometheus.NewDesc("ebrcs_catalog_storage_errors_total", "Changes and purchases refused because the data directory was read-only or its disk full.", nil, nil)
	descLearned  = prometheus.NewDesc("ebrcs_catalog_learned_views", "Learned views: crops that answers and corrections taught the catalog.", nil, nil)
	descNones    = prometheus.NewDesc("ebrcs_catalog_none_views", "\"None of these\" answers the catalog remembers.", nil, nil)
	descAdapted  = prometheus.NewDesc("ebrcs_catalog_adapted", "1 when the catalog scores in its fitted (whitened) space, 0 when by cosine.", nil, nil)
	descRefits   = prometheus.NewDesc("ebrcs_catalog_refits_total", "Fits of the catalog's projection since it was opened.", nil, nil)
	descRefitSec = prometheus.NewDesc("ebrcs_catalog_refit_seconds", "How long the last fit of the catalog's projection took.", nil, nil)
	descNative   = prometheus.NewDesc("ebrcs_native_heap_bytes", "The C heap (GStreamer, codecs, ONNX Runtime, FAISS): in_use is allocated, free is freed but kept by malloc.", []string{"state"}, nil)
)

func (m metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descRestarts, descSessions, descPeers, descPeerPkts, descPeerFrms, descProducts, descVectors, descReadOnly, descStorErrs,
		descLearned, descNones, descAdapted, descRefits, descRefitSec, descNative} {
		ch <- d
	}
}

func (m metricsCollector) Collect(ch chan<- prometheus.Metric) {
	native := malloctune.Read()
	ch <- prometheus.MustNewConstMetric(descNative, prometheus.GaugeValue, float64(native.InUse), "in_use")
	ch <- prometheus.MustNewConstMetric(descNative, prometheus.GaugeValue, float64(native.Free), "free")
	if m.s.Pipelines != nil {
		// By bounded label: the pipelines beyond metrics.MaxPipelineLabels add up under "other".
		type series struct {
			states   map[pipelines.State]float64
			restarts float64
		}
		byLabel := map[string]*series{}
		var labels []string
		for _, st := range m.s.Pipelines.Statuses() {
			label := metrics.PipelineNames.Value(st.Name)
			sr := byLabel[label]
			if sr == nil {
				sr = &series{states: map[pipelines.State]float64{}}
				byLabel[label] = sr
				labels = append(labels, label)
			}
			sr.states[st.State]++
			sr.restarts += float64(st.Restarts)
		}
		for _, label := range labels {
			sr := byLabel[label]
			for _, state := range pipelineStates {
				ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, sr.states[state], label, string(state))
			}
			ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, sr.restarts, label)
		}
	}
	if m.s.Catalog != nil {
		st := m.s.Catalog.Stats()
		ch <- prometheus.MustNewConstMetric(descProducts, prometheus.GaugeValue, float64(st.Products))
		ch <- prometheus.MustNewConstMetric(descVectors, prometheus.GaugeValue, float64(st.Vectors))
		readOnly := 0.0
		if st.ReadOnly {
			readOnly = 1
		}
		ch <- prometheus.MustNewConstMetric(descReadOnly, prometheus.GaugeValue, readOnly)
		ch <- prometheus.MustNewConstMetric(descStorErrs, prometheus.CounterValue, float64(st.StorageErrors))
		adapted := 0.0
		if st.Adapted {
			adapted = 1
		}
		ch <- prometheus.MustNewConstMetric(descLearned, prometheus.GaugeValue, float64(st.LearnedViews))
		ch <- prometheus.MustNewConstMetric(descNones, prometheus.GaugeValue, float64(st.NoneViews))
		ch <- prometheus.MustNewConstMetric(descAdapted, prometheus.GaugeValue, adapted)
		ch <- prometheus.MustNewConstMetric(descRefits, prometheus.CounterValue, float64(st.Refits))
		ch <- prometheus.MustNewConstMetric(descRefitSec, prometheus.GaugeValue, st.LastRefit.Seconds())
	}
	if m.s.Checkout != nil {
		ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(m.s.Checkout.Sessions()))
	}
	if m.s.WebRTC != nil {
		peers := m.s.WebRTC.Peers()
		var in, dropped, out, skipped, encDropped, lost, thinned int64
		for _, p := range peers {
			in, dropped, out, skipped, encDropped = in+p.PacketsIn, dropped+p.PacketsDropped, out+p.FramesOut, skipped+p.FramesSkipped, encDropped+p.FramesDropped
			lost += p.FramesLost
			thinned += p.FramesThinned
		}
		ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(len(peers)))
		ch <- prometheus.MustNewConstMetric(descPeerPkts, prometheus.CounterValue, float64(in), "received")
		ch <- prometheus.MustNewConstMetric(descPeerPkts, prometheus.CounterValue, float64(dropped), "dropped")
		ch <- prometheus.MustNewConstMetric(descPeerFrms, prometheus.CounterValue, float64(out), "sent")
		ch <- prometheus.MustNewConstMetric(descPeerFrms, prometheus.CounterValue, float64(skipped), "skipped_by_analysis")
		ch <- prometheus.MustNewConstMetric(descPeerFrms, prometheus.CounterValue, float64(encDropped), "dropped_by_encoder")
		ch <- prometheus.MustNewConstMetric(descPeerFrms, prometheus.CounterValue, float64(lost), "lost")
		ch <- prometheus.MustNewConstMetric(descPeerFrms, prometheus.CounterValue, float64(thinned), "thinned_for_half_rate")
	}
}

// metricsHandler serves Prometheus metrics: everything recorded in internal/metrics
// (elements, embedding, matching, counting, sessions, WebRTC, HTTP), and, read at scrape time,
// the pipelines' states and restarts, the catalog's size, the sessions and the WebRTC
// peers' counters, plus Go runtime and process metrics.
func (s *Server) metricsHandler() gin.HandlerFunc {
	local := prometheus.NewRegistry()
	local.MustRegister(metricsCollector{s}, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(prometheus.Gatherers{metrics.Registry, local}, promhttp.HandlerOpts{})
	return func(c *gin.Context) { h.ServeHTTP(c.Writer, c.Request) }
}

// observeRequests records every request's duration by method, route and status code;
// refusals (4xx) are counted there too. Every label comes from a bounded set, whatever the
// client sends: the standard methods (else "other"), the route's pattern (a path no route
// matches is "unmatched"), and the status codes net/http names (else "other").
func observeRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	metrics.HTTPSeconds.WithLabelValues(methodLabel(c.Request.Method), route, codeLabel(c.Writer.Status())).Observe(time.Since(start).Seconds())
}

// methodLabel is the method's metric label: one of RFC 9110's methods and PATCH, else
// "other". Without this, each request with a new made-up method added a series for good.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return metrics.Other
}

// codeLabel is the status code's metric label: the code when net/http knows it, else "other".
func codeLabel(code int) string {
	if http.StatusText(code) == "" {
		return metrics.Other
	}
	return strconv.Itoa(code)
}
