package goelement

// PackedRGB is the layout of a packed RGB-family video format: bytes per pixel and the byte
// offsets of red, green and blue within a pixel.
type PackedRGB struct {
	BytesPerPixel int
	R, G, B       int
}

// PackedRGBFormats is the caps format list of the formats PackedRGBLayout knows.
const PackedRGBFormats = "{RGBA,BGRA,RGBx,BGRx,xRGB,xBGR,ARGB,ABGR,RGB,BGR}"

// AnalysisFormats is the caps format list of elements that read frames as packed RGB or as
// the decoders' 4:2:0 (I420, NV12), which the live path keeps end to end.
const AnalysisFormats = "{RGBA,BGRA,RGBx,BGRx,xRGB,xBGR,ARGB,ABGR,RGB,BGR,I420,NV12}"

var packedRGB = map[string]PackedRGB{
	"RGBA": {4, 0, 1, 2}, "RGBx": {4, 0, 1, 2},
	"BGRA": {4, 2, 1, 0}, "BGRx": {4, 2, 1, 0},
	"ARGB": {4, 1, 2, 3}, "xRGB": {4, 1, 2, 3},
	"ABGR": {4, 3, 2, 1}, "xBGR": {4, 3, 2, 1},
	"RGB": {3, 0, 1, 2}, "BGR": {3, 2, 1, 0},
}

// PackedRGBLayout returns the layout of a GStreamer format name, false for formats that are
// not packed RGB (planar YUV, grey, ...).
func PackedRGBLayout(format string) (PackedRGB, bool) {
	l, ok := packedRGB[format]
	return l, ok
}
