package bgsub

import (
	"fmt"
	"testing"
)

// BenchmarkStreamStart times the model's first frames, when the learning rate is 1/(2·frame)
// and samples are refreshed every frame or two: every camera pays it when its session starts,
// and 16 sessions starting together pay it at once. Reported per frame for frames 1–10 (the
// warm-up), 11–30 and 31–60, at the live pipelines' 320×240.
//
//	go test ./elements/bgsub -run '^$' -bench StreamStart
func BenchmarkStreamStart(b *testing.B) {
	const w, h = 320, 240
	sc := newScene(w, h, 60, 7)
	n := w * h
	type planeSet struct{ c0, c1, c2 []byte }
	frames := make([]planeSet, len(sc.frames))
	for i, f := range sc.frames {
		frames[i].c0, frames[i].c1, frames[i].c2 = planes(f, n)
	}
	for _, r := range []struct{ from, to int }{{0, 10}, {10, 30}, {30, 60}} {
		b.Run(fmt.Sprintf("frames=%d-%d", r.from+1, r.to), func(b *testing.B) {
			mask := make([]byte, n)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sub, _ := NewSubtractor(w, h, DefaultParams)
				for _, f := range frames[:r.from] {
					sub.Apply(f.c0, f.c1, f.c2, mask)
				}
				b.StartTimer()
				for _, f := range frames[r.from:r.to] {
					sub.Apply(f.c0, f.c1, f.c2, mask)
				}
				b.StopTimer()
				sub.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*(r.to-r.from)), "ms/frame")
		})
	}
}
