#include "meta.h"

/* Implemented in Go (exports.go). */
extern void ebrcsFrameRelease(guintptr handle);
extern guintptr ebrcsFrameClone(guintptr handle);
extern void ebrcsEventFrameRelease(guintptr handle);
extern guintptr ebrcsEventFrameClone(guintptr handle);

GType ebrcs_frame_meta_api_get_type(void)
{
	static GType type = 0;
	/* No tags: the meta says nothing about memory, colour or size, so every transform
	 * (videoconvert, videoscale, queue, tee copies) keeps it. Coordinates inside carry the frame
	 * size they refer to, so a consumer after a scaler can map them. */
	static const gchar *tags[] = { NULL };
	if (g_once_init_enter(&type)) {
		GType t = gst_meta_api_type_register("EbrcsFrameMetaAPI", tags);
		g_once_init_leave(&type, t);
	}
	return type;
}

static gboolean frame_meta_init(GstMeta *meta, gpointer params, GstBuffer *buffer)
{
	((EbrcsFrameMeta *)meta)->handle = 0;
	return TRUE;
}

static void frame_meta_free(GstMeta *meta, GstBuffer *buffer)
{
	EbrcsFrameMeta *m = (EbrcsFrameMeta *)meta;
	if (m->handle != 0) {
		ebrcsFrameRelease(m->handle);
		m->handle = 0;
	}
}

static gboolean frame_meta_transform(GstBuffer *dest, GstMeta *meta, GstBuffer *buffer,
				     GQuark type, gpointer data)
{
	EbrcsFrameMeta *src = (EbrcsFrameMeta *)meta;
	/* Copies and video transforms (scale, orientation) alike get their own clone of the
	 * Go-side frame, so a branch after a tee can never see another branch's writes. */
	if (gst_buffer_get_meta(dest, ebrcs_frame_meta_api_get_type()) != NULL)
		return TRUE;
	EbrcsFrameMeta *dst = (EbrcsFrameMeta *)gst_buffer_add_meta(dest, ebrcs_frame_meta_get_info(), NULL);
	if (dst == NULL)
		return FALSE;
	dst->handle = src->handle != 0 ? ebrcsFrameClone(src->handle) : 0;
	return TRUE;
}

const GstMetaInfo *ebrcs_frame_meta_get_info(void)
{
	static const GstMetaInfo *info = NULL;
	if (g_once_init_enter((GstMetaInfo **)&info)) {
		const GstMetaInfo *mi = gst_meta_register(ebrcs_frame_meta_api_get_type(),
			"EbrcsFrameMeta", sizeof(EbrcsFrameMeta),
			frame_meta_init, frame_meta_free, frame_meta_transform);
		g_once_init_leave((GstMetaInfo **)&info, (GstMetaInfo *)mi);
	}
	return info;
}

EbrcsFrameMeta *ebrcs_buffer_get_frame_meta(GstBuffer *buffer)
{
	return (EbrcsFrameMeta *)gst_buffer_get_meta(buffer, ebrcs_frame_meta_api_get_type());
}

EbrcsFrameMeta *ebrcs_buffer_add_frame_meta(GstBuffer *buffer, guintptr handle)
{
	EbrcsFrameMeta *m = (EbrcsFrameMeta *)gst_buffer_add_meta(buffer, ebrcs_frame_meta_get_info(), NULL);
	if (m != NULL)
		m->handle = handle;
	return m;
}

static gpointer frame_handle_copy(gpointer handle)
{
	return (gpointer)ebrcsEventFrameClone((guintptr)handle);
}

static void frame_handle_free(gpointer handle)
{
	ebrcsEventFrameRelease((guintptr)handle);
}

static GType ebrcs_frame_handle_get_type(void)
{
	static GType type = 0;
	if (g_once_init_enter(&type)) {
		GType t = g_boxed_type_register_static("EbrcsFrameHandle", frame_handle_copy, frame_handle_free);
		g_once_init_leave(&type, t);
	}
	return type;
}

GstEvent *ebrcs_frame_event_new(guintptr handle)
{
	GValue v = G_VALUE_INIT;
	g_value_init(&v, ebrcs_frame_handle_get_type());
	g_value_take_boxed(&v, (gpointer)handle);
	GstStructure *s = gst_structure_new_empty("ebrcs-frame");
	gst_structure_take_value(s, "frame", &v);
	return gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

guintptr ebrcs_frame_event_handle(GstEvent *event)
{
	if (GST_EVENT_TYPE(event) != GST_EVENT_CUSTOM_DOWNSTREAM)
		return 0;
	const GstStructure *s = gst_event_get_structure(event);
	if (s == NULL || !gst_structure_has_name(s, "ebrcs-frame"))
		return 0;
	const GValue *v = gst_structure_get_value(s, "frame");
	if (v == NULL || !G_VALUE_HOLDS(v, ebrcs_frame_handle_get_type()))
		return 0;
	return (guintptr)g_value_get_boxed(v);
}
