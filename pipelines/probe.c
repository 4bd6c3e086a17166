// probe.c: GstDiscoverer in C, so that the discoverer and its results live exactly as long as
// this function holds them, whatever Go's garbage collector does meanwhile.
#include <string.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>

#include "probe.h"

// caps_name returns a copy of the first structure's name of caps (NULL when empty), and
// releases caps.
static char *caps_name(GstCaps *caps) {
	char *name = NULL;
	if (caps == NULL) return NULL;
	if (gst_caps_get_size(caps) > 0) name = g_strdup(gst_structure_get_name(gst_caps_get_structure(caps, 0)));
	gst_caps_unref(caps);
	return name;
}

void ebrcs_probe(const char *uri, guint64 timeout_ns, ebrcs_probe_result *out) {
	memset(out, 0, sizeof(*out));
	GError *err = NULL;
	GstDiscoverer *d = gst_discoverer_new((GstClockTime)timeout_ns, &err);
	if (d == NULL) {
		out->outcome = EBRCS_PROBE_UNREADABLE;
		out->error = g_strdup(err != NULL ? err->message : "the media inspector could not be created");
		g_clear_error(&err);
		return;
	}
	GstDiscovererInfo *info = gst_discoverer_discover_uri(d, uri, &err);
	if (info == NULL) {
		out->outcome = EBRCS_PROBE_UNREADABLE;
		out->error = g_strdup(err != NULL ? err->message : "the file could not be read as media");
		g_clear_error(&err);
		g_object_unref(d);
		return;
	}
	g_clear_error(&err); // an error comes with an info too; the result says what happened

	switch (gst_discoverer_info_get_result(info)) {
	case GST_DISCOVERER_OK: out->outcome = EBRCS_PROBE_OK; break;
	case GST_DISCOVERER_TIMEOUT: out->outcome = EBRCS_PROBE_TIMEOUT; break;
	case GST_DISCOVERER_MISSING_PLUGINS: out->outcome = EBRCS_PROBE_MISSING_PLUGINS; break;
	default: out->outcome = EBRCS_PROBE_FAILED; break;
	}
	if (out->outcome == EBRCS_PROBE_OK) {
		GList *videos = gst_discoverer_info_get_video_streams(info);
		out->video_streams = (int)g_list_length(videos);
		if (videos != NULL) {
			GstDiscovererVideoInfo *v = GST_DISCOVERER_VIDEO_INFO(videos->data);
			out->is_image = gst_discoverer_video_info_is_image(v);
			out->width = (int)gst_discoverer_video_info_get_width(v);
			out->height = (int)gst_discoverer_video_info_get_height(v);
			out->fps_n = (int)gst_discoverer_video_info_get_framerate_num(v);
			out->fps_d = (int)gst_discoverer_video_info_get_framerate_denom(v);
			out->codec = caps_name(gst_discoverer_stream_info_get_caps(GST_DISCOVERER_STREAM_INFO(v)));
		}
		gst_discoverer_stream_info_list_free(videos);
		GstClockTime dur = gst_discoverer_info_get_duration(info);
		if (GST_CLOCK_TIME_IS_VALID(dur)) {
			out->has_duration = 1;
			out->duration = dur;
		}
		GstDiscovererStreamInfo *top = gst_discoverer_info_get_stream_info(info);
		if (top != NULL) {
			out->container = caps_name(gst_discoverer_stream_info_get_caps(top));
			gst_discoverer_stream_info_unref(top);
		}
	}
	gst_discoverer_info_unref(info);
	g_object_unref(d);
}

void ebrcs_probe_result_clear(ebrcs_probe_result *r) {
	g_free(r->error);
	g_free(r->codec);
	g_free(r->container);
	memset(r, 0, sizeof(*r));
}
