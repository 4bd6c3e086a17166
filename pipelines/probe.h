// probe.h: inspects a media file with GstDiscoverer, entirely in C (see probe.go for why).
#ifndef EBRCS_PROBE_H
#define EBRCS_PROBE_H

#include <glib.h>

enum {
	EBRCS_PROBE_OK = 0,
	EBRCS_PROBE_UNREADABLE,      // the discoverer could not be made or gave no answer
	EBRCS_PROBE_TIMEOUT,
	EBRCS_PROBE_MISSING_PLUGINS,
	EBRCS_PROBE_FAILED,          // an error, a URI it cannot handle, or busy
};

// The first video stream of a file. Strings are owned by the result: free them with
// ebrcs_probe_result_clear.
typedef struct {
	int outcome;
	char *error;          // why, for EBRCS_PROBE_UNREADABLE (may be NULL)
	int video_streams;
	int is_image;
	int width, height;
	int fps_n, fps_d;
	int has_duration;
	guint64 duration;     // nanoseconds, when has_duration
	char *codec;          // the video caps' structure name (may be NULL)
	char *container;      // the top-level caps' structure name (may be NULL)
} ebrcs_probe_result;

void ebrcs_probe(const char *uri, guint64 timeout_ns, ebrcs_probe_result *out);
void ebrcs_probe_result_clear(ebrcs_probe_result *r);

#endif
