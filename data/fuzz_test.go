package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"runtime"
	"strings"
	"testing"
)

// Limits for FuzzDecodeImage: small, so that an image within them decodes quickly and an
// allocation far beyond them stands out.
const (
	fuzzMaxPixels = 1 << 16 // 256×256
	fuzzMaxBytes  = 1 << 20
)

// FuzzDecodeImage feeds arbitrary bytes to decodeImage, the check AddProduct runs on every
// uploaded image. It must never panic (not even a decoder panic it recovers from), refuse
// with an *ImageError, never return an image larger than the limit, and never allocate for
// pixels a header claims but the limit refuses (a decompression bomb).
//
//	go test -run '^$' -fuzz '^FuzzDecodeImage$' -fuzztime 60s ./data/
func FuzzDecodeImage(f *testing.F) {
	pngData, jpegData, gifData := fuzzEncode(f, "png"), fuzzEncode(f, "jpeg"), fuzzEncode(f, "gif")
	for _, b := range [][]byte{pngData, jpegData, gifData} {
		f.Add(b)
		f.Add(b[:len(b)/2]) // truncated in the pixels
		f.Add(b[:len(b)/8]) // truncated in the header
		f.Add(b[:len(b)-1]) // one byte short
	}
	f.Add(hugePNG(f, pngData))
	f.Add(hugeJPEG(f, jpegData))
	f.Add(hugeGIF(gifData))
	f.Add(hugeWebP())
	webp, err := os.ReadFile("testdata/gopher.lossless.webp")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(webp)
	f.Add(webp[:len(webp)/2])
	for _, s := range []string{
		"", "\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "GIF89a", "RIFF\x00\x00\x00\x00WEBPVP8 ",
		"BM" + strings.Repeat("\x00", 30), "\x00\x00\x00\x18ftypheic", "<svg/>", "%PDF-1.7",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := decodeImage(7, data, fuzzMaxPixels, fuzzMaxBytes)
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc

		if err != nil {
			if d != nil {
				t.Errorf("decodeImage returned an image with error %v", err)
			}
			var ie *ImageError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v is not an *ImageError", err, err)
			}
			if ie.Index != 7 || ie.Reason == "" {
				t.Errorf("bad ImageError %+v", *ie)
			}
			if ie.Err != nil && strings.Contains(ie.Err.Error(), "decoder panicked") {
				t.Fatalf("a decoder panicked (recovered by decodeImage): %v", ie.Err)
			}
			// A header claiming too many pixels is refused before any pixel is allocated.
			if strings.HasPrefix(ie.Reason, reasonTooManyPix) || strings.HasPrefix(ie.Reason, reasonBadHeader) {
				if limit := headerAllocLimit(len(data)); allocated > limit {
					t.Fatalf("refused (%s) after allocating %d bytes (limit %d)", ie.Reason, allocated, limit)
				}
			}
		} else {
			if d == nil || d.img == nil {
				t.Fatal("decodeImage returned neither an image nor an error")
			}
			if d.width <= 0 || d.height <= 0 || d.width*d.height > fuzzMaxPixels {
				t.Errorf("accepted %d×%d, the limit is %d pixels", d.width, d.height, fuzzMaxPixels)
			}
			// GIF's first frame may be smaller than its logical screen; never larger.
			if b := d.img.Bounds(); b.Dx() > d.width || b.Dy() > d.height || b.Dx() <= 0 || b.Dy() <= 0 {
				t.Errorf("decoded bounds %v for a %d×%d header", b, d.width, d.height)
			}
			if sum := sha256.Sum256(data); d.sha256 != hex.EncodeToString(sum[:]) {
				t.Errorf("sha256 %s does not match the data", d.sha256)
			}
			if !strings.HasPrefix(d.mime, "image/") {
				t.Errorf("mime %q", d.mime)
			}
		}
		// Whatever happens, the work is bounded by the pixel limit, never by the header.
		if limit := decodeAllocLimit(len(data)); allocated > limit {
			t.Fatalf("allocated %d bytes for a %d-byte input (limit %d)", allocated, len(data), limit)
		}
	})
}

// headerAllocLimit bounds what reading a header may allocate: the decoder's state and a
// copy or two of the input, no pixels.
func headerAllocLimit(n int) uint64 { return 1<<20 + 4*uint64(n) }

// decodeAllocLimit bounds a whole decode: generously 64 bytes per allowed pixel (a
// progressive CMYK JPEG keeps 16 bytes of coefficients per pixel, an interlaced 16-bit PNG
// two 8-byte images) on top of the header's.
func decodeAllocLimit(n int) uint64 { return headerAllocLimit(n) + 64*fuzzMaxPixels }

// fuzzEncode returns a small real image in format (png, jpeg, gif).
func fuzzEncode(tb testing.TB, format string) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 24; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 10), uint8(y * 15), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	case "gif":
		err = gif.Encode(&b, img, &gif.Options{NumColors: 16})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// hugePNG is a valid PNG whose IHDR claims 100000×100000 pixels (CRC fixed, so only the
// size is wrong).
func hugePNG(tb testing.TB, src []byte) []byte {
	tb.Helper()
	b := bytes.Clone(src)
	// signature (8), length (4), "IHDR" (4), width (4), height (4), ..., CRC after 13 bytes.
	if string(b[12:16]) != "IHDR" {
		tb.Fatal("no IHDR where expected")
	}
	binary.BigEndian.PutUint32(b[16:], 100000)
	binary.BigEndian.PutUint32(b[20:], 100000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// hugeJPEG is the JPEG with its SOF0 claiming 65535×65535 pixels.
func hugeJPEG(tb testing.TB, src []byte) []byte {
	tb.Helper()
	b := bytes.Clone(src)
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	if i < 0 || i+9 > len(b) {
		tb.Fatal("no SOF0 marker")
	}
	// FF C0, length (2), precision (1), height (2), width (2).
	binary.BigEndian.PutUint16(b[i+5:], 0xFFFF)
	binary.BigEndian.PutUint16(b[i+7:], 0xFFFF)
	return b
}

// hugeGIF is the GIF with its logical screen and first frame claiming 65535×65535 pixels.
func hugeGIF(src []byte) []byte {
	b := bytes.Clone(src)
	binary.LittleEndian.PutUint16(b[6:], 0xFFFF)
	binary.LittleEndian.PutUint16(b[8:], 0xFFFF)
	if i := bytes.IndexByte(b[13:], ','); i >= 0 && 13+i+9 <= len(b) {
		binary.LittleEndian.PutUint16(b[13+i+5:], 0xFFFF)
		binary.LittleEndian.PutUint16(b[13+i+7:], 0xFFFF)
	}
	return b
}

// hugeWebP is a WebP header alone (a VP8X chunk) claiming 40000×40000 pixels (x/image
// refuses canvases above 2^31-1 pixels itself).
func hugeWebP() []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x10\x00\x00\x00\x3f\x9c\x00\x3f\x9c\x00")
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}
