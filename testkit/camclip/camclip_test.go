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
