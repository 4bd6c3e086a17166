// Package testenv holds helpers shared by tests that run the shipped pipeline files.
package testenv

import (
	"strings"
	"testing"
)

// PointPipeline points a shipped pipeline file (configs/pipelines) at a test's catalog and
// models: every shipped file that recognises says `catalog: var/catalog` for ebrcs_match and
// relies on the default model directory for ebrcs_embed and ebrcs_match. Nothing else is
// changed, so the test runs the pipeline as shipped. It fails the test if the file no longer
// has that shape (the substitution would silently do nothing).
func PointPipeline(tb testing.TB, yaml, catalog, models string) string {
	tb.Helper()
	const catalogLine, embedLine = "catalog: var/catalog", "- element: ebrcs_embed\n"
	if !strings.Contains(yaml, catalogLine) || !strings.Contains(yaml, embedLine) {
		tb.Fatalf("a shipped pipeline changed shape: want %q and %q in it", catalogLine, strings.TrimSpace(embedLine))
	}
	yaml = strings.Replace(yaml, catalogLine, "catalog: "+catalog+"\n      model-dir: "+models, 1)
	// The embedder's line may already carry properties in flow style ({async: true}).
	const flow = embedLine + "    properties: {"
	if strings.Contains(yaml, flow) {
		return strings.Replace(yaml, flow, flow+"model-dir: "+models+", ", 1)
	}
	return strings.Replace(yaml, embedLine, embedLine+"    properties: {model-dir: "+models+"}\n", 1)
}
