#include "video.h"

EbrcsVideoInfo ebrcs_video_info_from_caps(GstCaps *caps)
{
	EbrcsVideoInfo out = { 0 };
	GstVideoInfo info;
	if (!gst_video_info_from_caps(&info, caps))
		return out;
	out.ok = 1;
	out.width = GST_VIDEO_INFO_WIDTH(&info);
	out.height = GST_VIDEO_INFO_HEIGHT(&info);
	out.fps_n = GST_VIDEO_INFO_FPS_N(&info);
	out.fps_d = GST_VIDEO_INFO_FPS_D(&info);
	out.n_planes = GST_VIDEO_INFO_N_PLANES(&info);
	for (int i = 0; i < out.n_planes && i < 4; i++) {
		out.stride[i] = GST_VIDEO_INFO_PLANE_STRIDE(&info, i);
		out.offset[i] = GST_VIDEO_INFO_PLANE_OFFSET(&info, i);
	}
	out.size = GST_VIDEO_INFO_SIZE(&info);
	out.format = gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&info)); /* static string */
	return out;
}

gboolean ebrcs_buffer_map(GstBuffer *buf, EbrcsMapping *m, gboolean write)
{
	GstMapFlags flags = write ? (GST_MAP_READ | GST_MAP_WRITE) : GST_MAP_READ;
	if (!gst_buffer_map(buf, &m->map, flags))
		return FALSE;
	m->data = m->map.data;
	m->size = m->map.size;
	GstVideoMeta *vm = gst_buffer_get_video_meta(buf);
	m->has_video_meta = vm != NULL;
	if (vm != NULL) {
		for (guint i = 0; i < vm->n_planes && i < 4; i++) {
			m->stride[i] = vm->stride[i];
			m->offset[i] = vm->offset[i];
		}
	}
	return TRUE;
}

void ebrcs_buffer_unmap(GstBuffer *buf, EbrcsMapping *m)
{
	gst_buffer_unmap(buf, &m->map);
}

void ebrcs_element_error(GstElement *element, const char *text)
{
	/* gst_element_message_full takes ownership of text and debug. */
	gst_element_message_full(element, GST_MESSAGE_ERROR, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
		g_strdup(text), NULL, __FILE__, G_STRFUNC, __LINE__);
}

void ebrcs_element_warning(GstElement *element, const char *text)
{
	gst_element_message_full(element, GST_MESSAGE_WARNING, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
		g_strdup(text), NULL, __FILE__, G_STRFUNC, __LINE__);
}

/* Implemented in Go (transform.go): hands an "ebrcs-frame" event to the element's processor.
 * FALSE: the processor failed (the element posted the error), the event goes no further. */
extern gboolean goelementFrameEvent(GstElement *element, GstEvent *event);

/* GstBaseTransform's own sink_event, which every one of our classes inherits. */
static gboolean (*base_sink_event)(GstBaseTransform *trans, GstEvent *event);

static gboolean ebrcs_sink_event(GstBaseTransform *trans, GstEvent *event)
{
	if (GST_EVENT_TYPE(event) == GST_EVENT_CUSTOM_DOWNSTREAM &&
	    !goelementFrameEvent(GST_ELEMENT(trans), event)) {
		gst_event_unref(event);
		return FALSE;
	}
	return base_sink_event(trans, event); /* forwards it downstream, in order */
}

void ebrcs_install_sink_event(gpointer klass)
{
	GstBaseTransformClass *bt = GST_BASE_TRANSFORM_CLASS(klass);
	if (bt->sink_event == ebrcs_sink_event)
		return;
	if (base_sink_event == NULL)
		base_sink_event = bt->sink_event;
	bt->sink_event = ebrcs_sink_event;
}

gboolean ebrcs_push_event(GstElement *element, GstEvent *event)
{
	return gst_pad_push_event(GST_BASE_TRANSFORM_SRC_PAD(element), event);
}
