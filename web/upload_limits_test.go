package web

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// encodeVideo encodes frames of H.264 at the given size and rate into an MP4 (faststart: the
// index before the media data).
func encodeVideo(t *testing.T, frames, width, height, fps int, faststart bool) []byte {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.mp4")
	if err := gsttest.RunToEOS(fmt.Sprintf("videotestsrc num-buffers=%d ! video/x-raw,width=%d,height=%d,framerate=%d/1 ! "+
		"x264enc speed-preset=ultrafast key-int-max=5 ! mp4mux faststart=%t faststart-file=%s ! filesink location=%s",
		frames, width, height, fps, faststart, filepath.Join(dir, "fs.tmp"), path), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// boxAt is the [start, end) of the file's first top-level box of type typ.
func boxAt(t *testing.T, b []byte, typ string) (int, int) {
	t.Helper()
	for off := 0; off+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[off:]))
		if string(b[off+4:off+8]) == typ {
			return off, off + size
		}
		if size < 8 {
			break
		}
		off += size
	}
	t.Fatalf("no %s box", typ)
	return 0, 0
}

func mdatMiddle(t *testing.T, b []byte) int {
	start, end := boxAt(t, b, "mdat")
	return (start + end) / 2
}

// Uploads beyond the frame size, frame rate or frame count limits are refused with 413 naming
// the limit and the video's value, before anything is decoded; MP4s cut in their media data
// or before their index are refused with 422 saying so.
func TestUploadRefusesDemandingAndTruncatedVideos(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{MaxVideoLength: 10 * time.Second}, 16<<20)
	id := e.create()
	ok := encodeVideo(t, 30, 320, 240, 30, true)
	notFast := encodeVideo(t, 30, 320, 240, 30, false)
	cases := []struct {
		name   string
		video  []byte
		status int
		says   []string
	}{
		{"4K frames", encodeVideo(t, 2, 3840, 2160, 30, false), http.StatusRequestEntityTooLarge,
			[]string{"3840×2160", "8294400 pixels", "1920×1080"}},
		{"120 fps", encodeVideo(t, 10, 320, 240, 120, false), http.StatusRequestEntityTooLarge,
			[]string{"120 frames per second", "limit is 60"}},
		{"cut in the media data (index first)", ok[:mdatMiddle(t, ok)], http.StatusUnprocessableEntity,
			[]string{"truncated", "mdat box"}},
		{"cut in the media data (index last)", notFast[:mdatMiddle(t, notFast)], http.StatusUnprocessableEntity,
			[]string{"truncated", "mdat box"}},
		{"cut before the index", notFast[:func() int { s, _ := boxAt(t, notFast, "moov"); return s }()], http.StatusUnprocessableEntity,
			[]string{"truncated", "no index"}},
		{"cut after the index (index first)", ok[:func() int { _, e := boxAt(t, ok, "moov"); return e }()], http.StatusUnprocessableEntity,
			[]string{"truncated", "end past the end of the file"}},
	}
	for _, c := range cases {
		start := time.Now()
		code, body := e.upload(id, "video", "v.mp4", c.video)
		msg := fmt.Sprint(body["error"])
		if code != c.status || body["field"] != "video" {
			t.Errorf("%s: %d %v, want %d naming \"video\"", c.name, code, body, c.status)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(msg, s) {
				t.Errorf("%s: %q does not say %q", c.name, msg, s)
			}
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: refused after %v", c.name, took)
		}
	}
	// The limits come from the configuration.
	small := newCheckoutEnv(t, checkout.Config{MaxVideoWidth: 160, MaxVideoHeight: 120, MaxVideoFPS: 25}, 16<<20)
	sid := small.create()
	if code, body := small.upload(sid, "video", "v.mp4", ok); code != http.StatusRequestEntityTooLarge ||
		!strings.Contains(fmt.Sprint(body["error"]), "320×240") {
		t.Errorf("320×240 with a 160×120 limit: %d %v", code, body)
	}
	// Within every limit: accepted.
	if code, body := e.upload(id, "video", "ok.mp4", ok); code != http.StatusAccepted {
		t.Errorf("a valid video: %d %v", code, body)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "uploads")); len(entries) > 1 {
		t.Errorf("refused uploads left %d files behind", len(entries)-1)
	}
}
