package camclip

// The stamp is a frame number written into the picture itself, so that a client can tell
// which of the frames it sent an annotated frame that comes back was made from, whatever the
// server did to the video (decoding, drawing, re-encoding, dropping frames). It is one row of
// 8×8 cells on the luma plane below the ROI: a white and a black cell that calibrate the
// threshold, 16 bits of frame number and 8 check bits.
//
// It cannot disturb the analysis: its changes are only 8 pixels tall, which ebrcs_bgsub's
// erosion (5×5 at 320 px, 10 px at 640) removes from the foreground mask entirely, and it
// lies below the default ROI, where the overlay draws nothing.

const (
	// StampX and StampY are the top left corner of the stamp (a 640×480 frame).
	StampX, StampY = 8, 464
	// cameraWidth is the width of the frames the stamp is written into.
	cameraWidth = 640
	// StampCell is the side of one cell in pixels.
	StampCell = 8
	stampData = 16
	stampChk  = 8
	// StampCells is the number of cells: 2 markers, data, check bits.
	StampCells = 2 + stampData + stampChk

	stampBlack, stampWhite = 24, 232
)

// check8 is the stamp's check bits: a mixing hash of the number, so that a misread bit
// almost never yields a valid stamp.
func check8(n uint16) uint8 {
	x := uint32(n)*0x9E3779B1 + 0x7F4A7C15
	x ^= x >> 15
	x *= 0x85EBCA6B
	x ^= x >> 13
	return uint8(x >> 24)
}

// stampBits returns the value of every cell for frame number n, true for white.
func stampBits(n uint16) [StampCells]bool {
	var b [StampCells]bool
	b[0] = true // white marker; b[1] stays black
	for i := 0; i < stampData; i++ {
		b[2+i] = n&(1<<(stampData-1-i)) != 0
	}
	c := check8(n)
	for i := 0; i < stampChk; i++ {
		b[2+stampData+i] = c&(1<<(stampChk-1-i)) != 0
	}
	return b
}

// Stamp writes frame number n into an I420 frame (planes y, u, v with their strides); the
// chroma under the stamp is made neutral.
func Stamp(y []byte, yStride int, u, v []byte, cStride int, n uint16) {
	bits := stampBits(n)
	for c, white := range bits {
		val := byte(stampBlack)
		if white {
			val = stampWhite
		}
		x0 := StampX + c*StampCell
		for r := 0; r < StampCell; r++ {
			row := y[(StampY+r)*yStride+x0:]
			for k := 0; k < StampCell; k++ {
				row[k] = val
			}
		}
		for r := 0; r < StampCell/2; r++ {
			o := (StampY/2+r)*cStride + x0/2
			for k := 0; k < StampCell/2; k++ {
				u[o+k], v[o+k] = 128, 128
			}
		}
	}
}

// ReadStamp reads the frame number from a frame's luma plane; ok is false when the stamp
// is not there or does not check (a damaged or foreign picture). The picture may be the
// camera's scaled down (a server that sends its annotated video back smaller): the stamp is
// read where it lies at that scale, as long as a cell is at least 3 pixels wide.
func ReadStamp(y []byte, stride, width, height int) (n uint16, ok bool) {
	if width <= 0 || height <= 0 || width > cameraWidth {
		return 0, false
	}
	scale := float64(width) / cameraWidth
	at := func(v int) int { return int(float64(v) * scale) }
	cell := at(StampCell)
	if cell < 3 || height < at(StampY)+cell || width < at(StampX+StampCells*StampCell) || len(y) < (at(StampY)+cell)*stride {
		return 0, false
	}
	// The mean of each cell's inner half (4×4 of 8×8 at full size): edges blur in the codecs
	// and the scaler.
	inner, margin := max(1, cell/2), cell/4
	y0 := at(StampY) + margin
	var mean [StampCells]int
	for c := range mean {
		x0 := at(StampX+c*StampCell) + margin
		s := 0
		for r := y0; r < y0+inner; r++ {
			for _, p := range y[r*stride+x0 : r*stride+x0+inner] {
				s += int(p)
			}
		}
		mean[c] = s / (inner * inner)
	}
	white, black := mean[0], mean[1]
	if white-black < 80 {
		return 0, false
	}
	thr := (white + black) / 2
	var v uint32
	for c := 2; c < StampCells; c++ {
		v <<= 1
		if mean[c] > thr {
			v |= 1
		}
	}
	n, chk := uint16(v>>stampChk), uint8(v)
	return n, chk == check8(n)
}
