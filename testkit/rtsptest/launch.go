package rtsptest

/*
#include <stdlib.h>
#include "rtsptest.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// H264Launch is a launch line serving the H.264 track of an MP4 file as-is (no re-encoding),
// paced in real time by the server's sinks. Stall and Loop work on it (and on any launch
// line with payloaders named payN); looping is Options.Loop.
func H264Launch(mp4 string) string {
	return fmt.Sprintf("( filesrc location=%s ! qtdemux ! h264parse ! "+
		"rtph264pay name=pay0 pt=96 config-interval=1 )", quote(mp4))
}

// H265Launch is a launch line serving the H.264 track of an MP4 file re-encoded to H.265
// with x265enc (decoded and encoded on the fly, about as fast as the file plays).
func H265Launch(mp4 string) string {
	return fmt.Sprintf("( filesrc location=%s ! qtdemux ! h264parse ! avdec_h264 ! "+
		"videoconvert ! x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "+
		"h265parse ! rtph265pay name=pay0 pt=96 config-interval=1 )", quote(mp4))
}

// MJPEGLaunch is a launch line serving the H.264 track of an MP4 file re-encoded to Motion
// JPEG with jpegenc (RTP payload type 26).
func MJPEGLaunch(mp4 string) string {
	return fmt.Sprintf("( filesrc location=%s ! qtdemux ! h264parse ! avdec_h264 ! "+
		"videoconvert ! video/x-raw,format=I420 ! jpegenc quality=85 ! "+
		"rtpjpegpay name=pay0 pt=26 )", quote(mp4))
}

// MakeH264MP4 writes a small H.264 MP4 test clip (320x240, a moving ball, one key frame a
// second): frames frames at fps frames per second.
func MakeH264MP4(dst string, frames, fps int) error {
	if frames <= 0 || fps <= 0 {
		return errors.New("rtsptest: MakeH264MP4 needs frames > 0 and fps > 0")
	}
	return RunLaunch(fmt.Sprintf("videotestsrc num-buffers=%d pattern=ball ! "+
		"video/x-raw,format=I420,width=320,height=240,framerate=%d/1 ! "+
		"x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%d ! "+
		"video/x-h264,profile=constrained-baseline ! mp4mux ! filesink location=%s",
		frames, fps, fps, quote(dst)))
}

// RunLaunch runs a gst-launch description to EOS (at most a minute).
func RunLaunch(launch string) error {
	cl := C.CString(launch)
	defer C.free(unsafe.Pointer(cl))
	var cerr *C.char
	if C.rtsptest_run_to_eos(cl, 60000, &cerr) == C.FALSE {
		defer C.g_free(C.gpointer(unsafe.Pointer(cerr)))
		return fmt.Errorf("rtsptest: %s", C.GoString(cerr))
	}
	return nil
}

// quote makes a property value safe in a gst-launch description.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
