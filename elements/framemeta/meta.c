#include "meta.h"

/* Implemented in Go (exports.go). */
extern void ebrcsFrameRelease(guintptr handle);
extern guintptr ebrcsFrameClone(guintptr handle);

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
