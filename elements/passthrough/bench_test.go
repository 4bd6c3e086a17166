package passthrough_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// BenchmarkOverhead measures what one Go element adds per 640×480 RGBA frame compared with
// GStreamer's own identity element, side by side in one run: each round pushes the same
// frames through a chain of 10 identity elements, 10 ebrcs_passthrough (no label: the
// framework's bare cost) and 10 ebrcs_passthrough with a label (plus attaching and extending
// the frame metadata), in turn. The per-element overhead is (variant − identity) / 10, from
// the medians over rounds; the machine is noisy, so rounds interleave the variants.
//
//	go test ./elements/passthrough -run '^$' -bench Overhead -benchtime 20x
func BenchmarkOverhead(b *testing.B) {
	gsttest.Init(b)
	const frames, chain = 300, 10
	variants := []struct{ name, element string }{
		{"identity", "identity"},
		{"passthrough", "ebrcs_passthrough"},
		{"passthrough+meta", "ebrcs_passthrough label=x"},
	}
	launch := func(element string) string {
		return "videotestsrc num-buffers=300 pattern=black ! video/x-raw,format=RGBA,width=640,height=480,framerate=30/1 ! " +
			strings.Repeat(element+" ! ", chain) + "fakesink sync=false"
	}
	perFrame := make([][]float64, len(variants))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for v, variant := range variants {
			start := time.Now()
			if err := gsttest.RunToEOS(launch(variant.element), time.Minute); err != nil {
				b.Fatal(err)
			}
			perFrame[v] = append(perFrame[v], float64(time.Since(start).Nanoseconds())/frames)
		}
	}
	b.StopTimer()
	base := median(perFrame[0])
	b.ReportMetric(base/1e3, "identity-µs/frame")
	for v := 1; v < len(variants); v++ {
		m := median(perFrame[v])
		b.ReportMetric((m-base)/chain/1e3, variants[v].name+"-added-µs/frame/element")
	}
	b.ReportMetric(0, "ns/op") // per-frame metrics above are the result
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
