#ifndef EBRCS_FRAME_META_H
#define EBRCS_FRAME_META_H

#include <gst/gst.h>

/* EbrcsFrameMeta: a GstMeta that holds one handle to a Go-side *framemeta.Frame. The Go value
 * lives as long as the meta: freeing the buffer (or the meta) releases the handle. */
typedef struct {
	GstMeta meta;
	guintptr handle;
} EbrcsFrameMeta;

GType ebrcs_frame_meta_api_get_type(void);
const GstMetaInfo *ebrcs_frame_meta_get_info(void);
EbrcsFrameMeta *ebrcs_buffer_get_frame_meta(GstBuffer *buffer);
EbrcsFrameMeta *ebrcs_buffer_add_frame_meta(GstBuffer *buffer, guintptr handle);

/* A Frame sent downstream without a buffer: a serialized custom downstream event named
 * "ebrcs-frame" whose field "frame" is a boxed handle (EbrcsFrameHandle). As with the meta,
 * freeing the event releases the handle and copying it clones the Frame. */
GstEvent *ebrcs_frame_event_new(guintptr handle);
guintptr ebrcs_frame_event_handle(GstEvent *event);

#endif
