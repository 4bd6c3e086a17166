package camclip

import (
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// The clip decodes to its own frames: every stamp reads back as its index, keyframes come
// every Keyint frames, the bitrate is near its target, and the pictures match the block
// means recorded for them.
func TestClipRoundTrip(t *testing.T) {
	gsttest.Init(t)
	clip, err := Generate(Config{})
	if err != nil {
		t.Fatal(err)
	}
	n := len(clip.Frames)
	if n != clip.Truth.Frames || n < 200 {
		t.Fatalf("%d frames, truth %d", n, clip.Truth.Frames)
	}
	bytes := 0
	for i, f := range clip.Frames {
		bytes += len(f.Data)
		if f.Key != (i%30 == 0) {
			t.Errorf("frame %d: keyframe %v", i, f.Key)
		}
	}
	kbps := float64(bytes*8) / (float64(n) / float64(clip.FPS)) / 1000
	if kbps < 1000 || kbps > 2000 {
		t.Errorf("bitrate %.0f kbit/s, want about 1500", kbps)
	}
	dec, err := NewDecoder("VP8")
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	go func() {
		for i, f := range clip.Frames {
			dec.Decode(f.Data, int64(i)*int64(time.Millisecond))
		}
	}()
	worst := 0
	for i := 0; i < n; i++ {
		select {
		case d := <-dec.Out():
			k, ok := ReadStamp(d.Y, d.Width, d.Width, d.Height)
			if !ok || int(k) != i || d.Tag != int64(i)*int64(time.Millisecond) {
				t.Fatalf("picture %d: stamp %d ok %v, tag %d", i, k, ok, d.Tag)
			}
			got := BlockMeans(d.Y, d.Width, d.Width, d.Height)
			for b := range got {
				worst = max(worst, absDiff(got[b], clip.Blocks[i][b]))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d pictures decoded", i)
		}
	}
	t.Logf("%d frames, %.0f kbit/s, %.1f s; worst block mean difference after VP8: %d", n, kbps, float64(n)/float64(clip.FPS), worst)
	if worst > 12 {
		t.Errorf("a block differs by %d after encoding", worst)
	}
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// A picture sent back smaller (the frames scaled down by an integer factor) still reads: its
// stamp, and the means of the same regions of the camera's picture. A scale whose cells
// would be narrower than 3 pixels, or a size that is not the clip's scaled down, does not.
func TestScaledPictureReads(t *testing.T) {
	gsttest.Init(t)
	clip, err := Generate(Config{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	w, h := clip.Width, clip.Height
	for _, i := range []int{0, 1, 77, len(clip.Raw) - 1} {
		luma := clip.Raw[i][:w*h]
		half, hw, hh := downscale(luma, w, h, 2)
		n, ok := ReadStamp(half, hw, hw, hh)
		if !ok || int(n) != i {
			t.Fatalf("frame %d at %dx%d: stamp %d ok %v", i, hw, hh, n, ok)
		}
		means, ok := clip.ScaledBlockMeans(half, hw, hw, hh)
		if !ok || len(means) != len(clip.Blocks[i]) {
			t.Fatalf("frame %d at %dx%d: %d block means (ok %v), want %d", i, hw, hh, len(means), ok, len(clip.Blocks[i]))
		}
		full := BlockMeans(luma, w, w, h)
		for b := range means {
			if d := absDiff(means[b], full[b]); d > 1 {
				t.Fatalf("frame %d block %d: %d at half size, %d at full", i, b, means[b], full[b])
			}
		}
		quarter, qw, qh := downscale(luma, w, h, 4)
		if _, ok := ReadStamp(quarter, qw, qw, qh); ok {
			t.Errorf("frame %d: a stamp read at %dx%d (2-pixel cells)", i, qw, qh)
		}
	}
	if _, ok := clip.ScaledBlockMeans(make([]byte, 300*225), 300, 300, 225); ok {
		t.Error("block means of a 300×225 picture, which is not the clip's scaled by an integer")
	}
}

// downscale averages f×f pixels into one.
func downscale(y []byte, w, h, f int) ([]byte, int, int) {
	sw, sh := w/f, h/f
	out := make([]byte, sw*sh)
	for r := 0; r < sh; r++ {
		for c := 0; c < sw; c++ {
			s := 0
			for dy := 0; dy < f; dy++ {
				for dx := 0; dx < f; dx++ {
					s += int(y[(r*f+dy)*w+c*f+dx])
				}
			}
			out[r*sw+c] = byte((s + f*f/2) / (f * f))
		}
	}
	return out, sw, sh
}
