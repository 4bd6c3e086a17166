// Package gsignal connects Go functions to GObject signals so that they are released with
// the handler.
//
// go-glib v1.4.0's Object.Connect keeps an extra reference on every GClosure it creates, so
// the closure is never finalized: its Go function, and everything the function captures,
// stays reachable forever, even after the handler is disconnected or the object is gone. A
// live session's bridge (and with it the session's PeerConnection) leaked that way on every
// connection. Here the handler is a plain C callback whose user data is a cgo.Handle, and
// GLib's destroy notify deletes the handle when the handler goes away.
package gsignal

/*
#cgo pkg-config: gobject-2.0
#include <stdlib.h>
#include <glib-object.h>

extern void gsignalInvoke(guintptr handle, gpointer arg);
extern void gsignalRelease(gpointer data, GClosure *closure);

static void gsignal_instance_only(gpointer instance, gpointer data) { gsignalInvoke((guintptr)data, NULL); }
static void gsignal_with_arg(gpointer instance, gpointer arg, gpointer data) { gsignalInvoke((guintptr)data, arg); }

// gsignal_connect returns 0, without connecting, when the instance has no such signal.
static gulong gsignal_connect(gpointer instance, const gchar *signal, gboolean with_arg, guintptr handle) {
	guint id;
	GQuark detail;
	if (!g_signal_parse_name(signal, G_TYPE_FROM_INSTANCE(instance), &id, &detail, FALSE))
		return 0;
	GCallback cb = with_arg ? G_CALLBACK(gsignal_with_arg) : G_CALLBACK(gsignal_instance_only);
	return g_signal_connect_data(instance, signal, cb, (gpointer)handle, (GClosureNotify)gsignalRelease, 0);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/cgo"
	"unsafe"

	"github.com/go-gst/go-glib/glib"
	"github.com/go-gst/go-gst/gst"
)

// HandlerID identifies a connected handler, for Disconnect.
type HandlerID uint64

// Connect calls fn each time obj emits signal, for signals whose handlers take only the
// instance (queue's "overrun", for example).
func Connect(obj *glib.Object, signal string, fn func()) (HandlerID, error) {
	return connect(obj, signal, false, func(unsafe.Pointer) { fn() })
}

// ConnectPadAdded calls fn with each pad el adds ("pad-added").
func ConnectPadAdded(el *gst.Element, fn func(*gst.Pad)) (HandlerID, error) {
	return connect(el.Object.Object, "pad-added", true, func(pad unsafe.Pointer) {
		fn(gst.FromGstPadUnsafeNone(pad))
	})
}

// Disconnect removes a handler; its function is released at once.
func Disconnect(obj *glib.Object, id HandlerID) {
	C.g_signal_handler_disconnect(C.gpointer(obj.Unsafe()), C.gulong(id))
	runtime.KeepAlive(obj) // its reference may be the object's last: see connect
}

func connect(obj *glib.Object, signal string, withArg bool, fn func(unsafe.Pointer)) (HandlerID, error) {
	csignal := C.CString(signal)
	defer C.free(unsafe.Pointer(csignal))
	h := cgo.NewHandle(fn)
	id := C.gsignal_connect(C.gpointer(obj.Unsafe()), csignal, gbool(withArg), C.guintptr(h))
	// obj's wrapper may hold the object's only reference; its finalizer must not run while
	// the C call uses the object.
	runtime.KeepAlive(obj)
	if id == 0 {
		h.Delete()
		return 0, fmt.Errorf("%s has no signal %q", C.GoString((*C.char)(C.g_type_name_from_instance((*C.GTypeInstance)(obj.Unsafe())))), signal)
	}
	return HandlerID(id), nil
}

func gbool(b bool) C.gboolean {
	if b {
		return C.TRUE
	}
	return C.FALSE
}

//export gsignalInvoke
func gsignalInvoke(handle C.guintptr, arg C.gpointer) {
	cgo.Handle(handle).Value().(func(unsafe.Pointer))(unsafe.Pointer(arg))
}

//export gsignalRelease
func gsignalRelease(data C.gpointer, _ *C.GClosure) {
	cgo.Handle(uintptr(data)).Delete()
}
