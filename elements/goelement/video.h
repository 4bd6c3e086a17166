#ifndef EBRCS_GOELEMENT_VIDEO_H
#define EBRCS_GOELEMENT_VIDEO_H
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/base/gstbasetransform.h>

typedef struct {
	int ok;
	int width, height;
	int fps_n, fps_d;
	int n_planes;
	int stride[4];
	gsize offset[4];
	gsize size;
	const char *format;
} EbrcsVideoInfo;

EbrcsVideoInfo ebrcs_video_info_from_caps(GstCaps *caps);

typedef struct {
	GstMapInfo map;
	void *data;
	gsize size;
	/* Plane layout from the buffer's GstVideoMeta, when an upstream element attached one:
	 * it overrides the layout implied by the caps (padded strides from hardware decoders). */
	int has_video_meta;
	int stride[4];
	gsize offset[4];
} EbrcsMapping;

gboolean ebrcs_buffer_map(GstBuffer *buf, EbrcsMapping *m, gboolean write);
void ebrcs_buffer_unmap(GstBuffer *buf, EbrcsMapping *m);

/* Posts an error message from element, as GST_ELEMENT_ERROR does in C elements. */
void ebrcs_element_error(GstElement *element, const char *text);
void ebrcs_element_warning(GstElement *element, const char *text);

/* Frames sent without a buffer (framemeta.NewEvent), see transform.go. */
void ebrcs_install_sink_event(gpointer klass);
gboolean ebrcs_push_event(GstElement *element, GstEvent *event);
#endif
