package doctor

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>
*/
import "C"

// gstVersion is the version of the GStreamer library loaded at run time (not the headers').
func gstVersion() (major, minor, micro int) {
	var ma, mi, mc, nano C.guint
	C.gst_version(&ma, &mi, &mc, &nano)
	return int(ma), int(mi), int(mc)
}
