package checkout

import (
	"fmt"
	"time"

	"github.com/ebrcs/ebrcs/pipelines"
)

// checkVideo refuses, with ErrVideoTooLarge naming the limit and the video's value, a video
// whose processing would cost more than the limits allow: its frame size (decoding a frame
// of W×H pixels takes several buffers of 4·W·H bytes in each element), its frame rate and its
// frame count (the processing time); and with ErrTooLong one longer than MaxVideoLength. Only what the file declares is needed, so it runs
// before anything is decoded. A frame rate the file does not declare (variable) is its
// average, frames over duration.
func (c Config) checkVideo(info pipelines.MediaInfo) error {
	w, h := int64(info.Width), int64(info.Height)
	maxW, maxH := int64(c.MaxVideoWidth), int64(c.MaxVideoHeight)
	if w*h > maxW*maxH || max(w, h) > max(maxW, maxH) {
		return fmt.Errorf("%w: its frames are %d×%d (%d pixels), the limit is %d×%d (%d pixels)",
			ErrVideoTooLarge, w, h, w*h, maxW, maxH, maxW*maxH)
	}
	if info.Duration > c.MaxVideoLength {
		return fmt.Errorf("%w: the video lasts %v, the limit is %v", ErrTooLong, info.Duration.Round(time.Second), c.MaxVideoLength)
	}
	fps := info.FPS
	if fps <= 0 && info.Frames > 0 && info.Duration > 0 {
		fps = float64(info.Frames) / info.Duration.Seconds()
	}
	if fps > c.MaxVideoFPS+0.01 { // 60000/1001 and the like are within 60
		return fmt.Errorf("%w: it has %.4g frames per second, the limit is %.4g", ErrVideoTooLarge, fps, c.MaxVideoFPS)
	}
	if info.Frames > c.MaxVideoFrames {
		return fmt.Errorf("%w: it has %d frames, the limit is %d", ErrVideoTooLarge, info.Frames, c.MaxVideoFrames)
	}
	return nil
}
