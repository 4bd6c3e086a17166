package scenario

import (
	"bufio"
	"fmt"
	"image"
	"io"
)

// WriteY4M renders the scenario as an uncompressed YUV4MPEG2 stream: 4:2:0 with centred
// chroma (C420jpeg), BT.601 limited range, progressive, square pixels. Every frame is exactly
// Width*Height*3/2 bytes after its "FRAME\n" line.
func WriteY4M(w io.Writer, s *Scenario, products []Product) error {
	p, err := compile(s, products)
	if err != nil {
		return err
	}
	if _, err := p.truth(); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	width, height := p.cfg.Width, p.cfg.Height
	if _, err := fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\n",
		width, height, p.cfg.FPS); err != nil {
		return err
	}
	yuv := make([]byte, width*height*3/2)
	err = p.render(func(_ int, frame *image.RGBA) error {
		ToI420(frame, yuv)
		if _, err := bw.WriteString("FRAME\n"); err != nil {
			return err
		}
		_, err := bw.Write(yuv)
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// ToI420 converts an RGBA frame with even sides to planar Y, U, V (BT.601, limited range),
// each chroma sample the mean of a 2x2 block.
func ToI420(img *image.RGBA, out []byte) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	yp, up, vp := out[:w*h], out[w*h:w*h+w*h/4], out[w*h+w*h/4:]
	pix, stride := img.Pix, img.Stride
	for y := 0; y < h; y++ {
		row := pix[y*stride:]
		for x := 0; x < w; x++ {
			r, g, b := int(row[4*x]), int(row[4*x+1]), int(row[4*x+2])
			yp[y*w+x] = uint8((66*r+129*g+25*b+128)>>8 + 16)
		}
	}
	for y := 0; y < h/2; y++ {
		r0, r1 := pix[2*y*stride:], pix[(2*y+1)*stride:]
		for x := 0; x < w/2; x++ {
			i := 8 * x
			r := int(r0[i]) + int(r0[i+4]) + int(r1[i]) + int(r1[i+4])
			g := int(r0[i+1]) + int(r0[i+5]) + int(r1[i+1]) + int(r1[i+5])
			b := int(r0[i+2]) + int(r0[i+6]) + int(r1[i+2]) + int(r1[i+6])
			// Sums of four: divide by 4 inside the rounding shift.
			up[y*w/2+x] = uint8((-38*r-74*g+112*b+512)>>10 + 128)
			vp[y*w/2+x] = uint8((112*r-94*g-18*b+512)>>10 + 128)
		}
	}
}
