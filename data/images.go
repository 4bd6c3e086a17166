package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// imageFormat is one accepted encoding. Decoders are called directly rather than through
// image.Decode's registry, so what the catalog accepts does not change when some other
// package in the binary registers another format.
type imageFormat struct {
	name         string
	mime         string
	match        func([]byte) bool
	decodeConfig func(io.Reader) (image.Config, error)
	decode       func(io.Reader) (image.Image, error)
}

var imageFormats = []imageFormat{
	{"JPEG", "image/jpeg", func(b []byte) bool { return bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) }, jpeg.DecodeConfig, jpeg.Decode},
	{"PNG", "image/png", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }, png.DecodeConfig, png.Decode},
	{"GIF", "image/gif", func(b []byte) bool {
		return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
	}, gif.DecodeConfig, gif.Decode},
	{"WebP", "image/webp", func(b []byte) bool {
		return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
	}, webp.DecodeConfig, webp.Decode},
}

// knownUnsupported names formats that are images but that we cannot decode, so that an admin
// uploading a HEIC from a phone is told so instead of "not an image".
func knownUnsupported(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("BM")) && len(b) >= 26:
		return "BMP"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "TIFF"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
			return "HEIC/HEIF"
		case "avif", "avis":
			return "AVIF"
		}
	case bytes.HasPrefix(b, []byte{0xFF, 0x0A}), bytes.HasPrefix(b, []byte("\x00\x00\x00\x0cJXL \r\n\x87\n")):
		return "JPEG XL"
	case bytes.HasPrefix(b, []byte{0, 0, 1, 0}):
		return "ICO"
	case bytes.HasPrefix(b, []byte("%PDF")):
		return "PDF"
	case bytes.HasPrefix(bytes.TrimSpace(b), []byte("<svg")), bytes.HasPrefix(bytes.TrimSpace(b), []byte("<?xml")):
		return "SVG"
	}
	return ""
}

// Reasons given in ImageError.Reason.
const (
	reasonEmpty       = "zero bytes"
	reasonTooLarge    = "file too large"
	reasonNotImage    = "not an image (accepted: JPEG, PNG, GIF, WebP)"
	reasonUnsupported = "unsupported format"
	reasonTooManyPix  = "too many pixels"
	reasonBadHeader   = "corrupt image header"
	reasonCorrupt     = "corrupt or truncated image"
)

// decodedImage is a validated image: its original bytes (stored as they are) and the decoded
// pixels (only given to the embedder, never stored).
type decodedImage struct {
	data          []byte
	sha256        string
	mime          string
	width, height int
	img           image.Image
}

// decodeImage validates and decodes one image. The dimensions are read from the header and
// checked against maxPixels BEFORE decoding, so a small file declaring 100000×100000 pixels
// (a decompression bomb) costs nothing. index is the image's place in the request, for the
// ImageError.
func decodeImage(index int, data []byte, maxPixels, maxBytes int) (d *decodedImage, err error) {
	if len(data) == 0 {
		return nil, &ImageError{Index: index, Reason: reasonEmpty}
	}
	if maxBytes > 0 && len(data) > maxBytes {
		return nil, &ImageError{Index: index, Reason: fmt.Sprintf("%s (%d bytes, at most %d)", reasonTooLarge, len(data), maxBytes)}
	}
	var f *imageFormat
	for i := range imageFormats {
		if imageFormats[i].match(data) {
			f = &imageFormats[i]
			break
		}
	}
	if f == nil {
		if name := knownUnsupported(data); name != "" {
			return nil, &ImageError{Index: index, Reason: fmt.Sprintf("%s %s (accepted: JPEG, PNG, GIF, WebP)", reasonUnsupported, name)}
		}
		return nil, &ImageError{Index: index, Reason: reasonNotImage}
	}
	// The decoders are written to return errors, but a crafted file must never take the
	// server down with it.
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, &ImageError{Index: index, Reason: reasonCorrupt, Err: fmt.Errorf("%s decoder panicked: %v", f.name, r)}
		}
	}()
	cfg, err := f.decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, &ImageError{Index: index, Reason: reasonBadHeader + " (" + f.name + ")", Err: err}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, &ImageError{Index: index, Reason: fmt.Sprintf("%s (%s declares %d×%d)", reasonBadHeader, f.name, cfg.Width, cfg.Height)}
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(maxPixels) {
		return nil, &ImageError{Index: index, Reason: fmt.Sprintf("%s (%d×%d = %d, at most %d)", reasonTooManyPix, cfg.Width, cfg.Height, px, maxPixels)}
	}
	img, err := f.decode(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, &ImageError{Index: index, Reason: reasonCorrupt + " (" + f.name + ")", Err: err}
	}
	sum := sha256.Sum256(data)
	return &decodedImage{
		data:   data,
		sha256: hex.EncodeToString(sum[:]),
		mime:   f.mime,
		width:  cfg.Width,
		height: cfg.Height,
		img:    img,
	}, nil
}
