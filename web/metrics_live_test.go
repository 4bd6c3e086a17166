package web

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/signaling"
)

// During a live WebRTC session, /metrics shows every family an operator watches: the
// session's pipeline frames in and out and its drops, the elements, embedding, matching and
// counting, sessions and connections, the catalog, HTTP durations, the native and Go heaps;
// after it ends, the session's end and its reason.
func TestMetricsDuringALiveSession(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a WebRTC session")
	}
	env := newLiveEnv(t, 4)
	frames, err := signaling.EncodeVideo(env.videos["two-products"], "VP8", 15, 800)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := signaling.ClientAPI(true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := signaling.Publish(ctx, api, env.url+"/whip/live", "VP8", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Send(ctx, frames, 30, nil)

	live := scrape(t, env.url)
	for _, family := range []string{
		`ebrcs_webrtc_publishers 1`,
		`ebrcs_pipeline_frames_total{at="source",pipeline="live"}`,
		`ebrcs_pipeline_frames_total{at="sink",pipeline="live"}`,
		`ebrcs_pipeline_dropped_frames_total{pipeline="live"}`,
		`ebrcs_pipeline_late_analysed_frames_total{pipeline="live"}`,
		`ebrcs_webrtc_packets_total{outcome="received"}`,
		`ebrcs_webrtc_frames_total{outcome="sent"}`,
		`ebrcs_element_frames_total{element="ebrcs_bgsub"}`,
		`ebrcs_element_processing_seconds_bucket{element="ebrcs_embed"`,
		`ebrcs_embedding_seconds_count`,
		`ebrcs_embedding_batch_size_bucket`,
		`ebrcs_match_score_bucket{outcome="count"`,
		`ebrcs_counter_events_total{event="count"}`,
		`ebrcs_sessions_created_total`,
		`ebrcs_checkout_sessions 1`,
		`ebrcs_webrtc_connections_total{kind="whip",outcome="opened"}`,
		`ebrcs_catalog_products 6`,
		`ebrcs_catalog_read_only 0`,
		"ebrcs_catalog_adapted", `ebrcs_catalog_learned_views 0`, `ebrcs_catalog_none_views 0`, "ebrcs_catalog_refits_total", "ebrcs_catalog_refit_seconds",
		`ebrcs_http_request_duration_seconds_bucket{code="201",method="POST",route="/whip/:pipeline"`,
		`ebrcs_native_heap_bytes{state="in_use"}`,
		`process_resident_memory_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(live, family) {
			t.Errorf("/metrics during a live session lacks %s", family)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grep(live, "ebrcs_"))
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := scrape(t, env.url)
		if strings.Contains(after, `ebrcs_sessions_ended_total{reason=`) && strings.Contains(after, "ebrcs_webrtc_publishers 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics after the session ended:\n%s", grep(after, "ebrcs_sessions|ebrcs_webrtc"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// grep keeps the lines containing any of the |-separated substrings (comments left out).
func grep(text, substrs string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		for _, s := range strings.Split(substrs, "|") {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
