package checkout

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/pipelines"
)

func TestCheckVideoLimits(t *testing.T) {
	cfg := Config{MaxVideoLength: time.Minute}.withDefaults() // 1920×1080, 60 fps, 3600 frames
	cases := []struct {
		name string
		info pipelines.MediaInfo
		want string // "" when accepted, else a part of the error
	}{
		{"full HD", pipelines.MediaInfo{Width: 1920, Height: 1080, FPS: 30, Frames: 900, Duration: 30 * time.Second}, ""},
		{"portrait full HD", pipelines.MediaInfo{Width: 1080, Height: 1920, FPS: 30}, ""},
		{"NTSC 59.94", pipelines.MediaInfo{Width: 1280, Height: 720, FPS: 60000.0 / 1001}, ""},
		{"8192×8192", pipelines.MediaInfo{Width: 8192, Height: 8192, FPS: 30}, "8192×8192 (67108864 pixels), the limit is 1920×1080 (2073600 pixels)"},
		{"a side too long", pipelines.MediaInfo{Width: 4000, Height: 200, FPS: 30}, "4000×200"},
		{"120 fps", pipelines.MediaInfo{Width: 320, Height: 240, FPS: 120}, "120 frames per second, the limit is 60"},
		{"variable rate, 100 on average", pipelines.MediaInfo{Width: 320, Height: 240, Frames: 1000, Duration: 10 * time.Second}, "100 frames per second"},
		{"too many frames", pipelines.MediaInfo{Width: 320, Height: 240, FPS: 30, Frames: 5000}, "5000 frames, the limit is 3600"},
	}
	for _, c := range cases {
		err := cfg.checkVideo(c.info)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (!errors.Is(err, ErrVideoTooLarge) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want ErrVideoTooLarge with %q", c.name, err, c.want)
		}
	}
}
