// Package gstleaks counts the GStreamer objects alive in this process, through GStreamer's
// own "leaks" tracer, so that tests can prove that sessions coming and going leave no
// pipeline, element, pad, buffer or sample behind: native leaks that Go's heap profile and
// goroutine counts cannot see.
//
// The tracer must be enabled before GStreamer is initialised, e.g.
// GST_TRACERS='leaks(filters="GstObject,GstSample,GstBuffer")'; Enabled reports whether it
// is. Counting is only meaningful while nothing else runs: objects being finalised
// meanwhile may or may not be counted.
package gstleaks

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>
#include <string.h>

static GstTracer *leaks_tracer(void) {
	GList *tracers = gst_tracing_get_active_tracers();
	GstTracer *found = NULL;
	for (GList *l = tracers; l != NULL; l = l->next) {
		if (found == NULL && strcmp(G_OBJECT_TYPE_NAME(l->data), "GstLeaksTracer") == 0)
			found = gst_object_ref(l->data);
	}
	g_list_free_full(tracers, gst_object_unref);
	return found;
}

// live_types returns one type name per line, one line per live object. The structure the
// tracer returns is not freed: in GStreamer 1.22 it holds no reference of its own on the
// mini objects it lists (freeing it unrefs them: assertion failures, then a crash). The few
// kilobytes it takes are a test's.
static char *live_types(void) {
	GstTracer *tracer = leaks_tracer();
	if (tracer == NULL)
		return NULL;
	GstStructure *info = NULL;
	g_signal_emit_by_name(tracer, "get-live-objects", &info);
	gst_object_unref(tracer);
	GString *out = g_string_new(NULL);
	const GValue *list = info ? gst_structure_get_value(info, "live-objects-list") : NULL;
	guint n = list ? gst_value_list_get_size(list) : 0;
	for (guint i = 0; i < n; i++) {
		const GstStructure *entry = gst_value_get_structure(gst_value_list_get_value(list, i));
		const GValue *obj = gst_structure_get_value(entry, "object");
		if (obj == NULL)
			continue;
		if (G_VALUE_HOLDS_OBJECT(obj) && g_value_get_object(obj) != NULL)
			g_string_append(out, G_OBJECT_TYPE_NAME(g_value_get_object(obj)));
		else
			g_string_append(out, G_VALUE_TYPE_NAME(obj));
		g_string_append_c(out, '\n');
	}
	return g_string_free(out, FALSE);
}
*/
import "C"

import (
	"fmt"
	"sort"
	"strings"
)

// Enabled reports whether the leaks tracer runs.
func Enabled() bool {
	t := C.leaks_tracer()
	if t == nil {
		return false
	}
	C.gst_object_unref(C.gpointer(t))
	return true
}

// Counts is the number of live objects by type name.
type Counts map[string]int

// Live counts the live objects by type name (nil when the tracer is off).
func Live() Counts {
	s := C.live_types()
	if s == nil {
		return nil
	}
	defer C.g_free(C.gpointer(s))
	m := Counts{}
	for _, line := range strings.Split(C.GoString(s), "\n") {
		if line != "" {
			m[line]++
		}
	}
	return m
}

// Growth is what c has more of than before, by type ("" when nothing grew), e.g.
// "GstPipeline +1, GstSample +35".
func (c Counts) Growth(before Counts) string {
	var grew []string
	for typ, n := range c {
		if d := n - before[typ]; d > 0 {
			grew = append(grew, fmt.Sprintf("%s +%d", typ, d))
		}
	}
	sort.Strings(grew)
	return strings.Join(grew, ", ")
}
