package pipelines

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ISO base media files (MP4, MOV, M4V, 3GP: ISO/IEC 14496-12) are a sequence of boxes, each a
// 32-bit size and a four-character type, the size 1 meaning a 64-bit size follows and 0 "to
// the end of the file" (§4.2). The discoverer reads the index (moov) and a few frames, so a
// file cut anywhere after them looked fine and failed, or played part of itself, only once
// processed. checkISOBMFF reads the structure instead: every top-level box must end within
// the file, the index must be there, and every sample of every track of the index must lie
// within the file (§8.7: the sample sizes, stsz/stz2; the chunks' offsets, stco/co64; the
// samples of each chunk, stsc).

// maxIndexBytes bounds the moov box read into memory. A 30-minute video at 60 fps with its
// audio has an index of a few megabytes.
const maxIndexBytes = 32 << 20

// isoLayout is what the structure says about the file's first video track.
type isoLayout struct {
	// VideoSamples is the number of frames of the first video track (its samples), 0 when
	// the file is fragmented (its samples are in the fragments) or has no video track.
	VideoSamples int64
	// VideoWidth and VideoHeight are the frame size its sample entry declares (0 when none),
	// and VideoDuration the track's duration (0 when unknown): known before anything is
	// decoded.
	VideoWidth, VideoHeight int
	VideoDuration           time.Duration
	Fragmented              bool
}

// errNotISOBMFF: the file does not start like an ISO base media file; it is left to the
// discoverer.
var errNotISOBMFF = errors.New("not an ISO base media file")

// isoFirstBoxes are the types an ISO base media file starts with: ftyp for MP4, M4V, 3GP
// and most MOVs, the others for old QuickTime files without one.
var isoFirstBoxes = map[string]bool{"ftyp": true, "moov": true, "mdat": true, "wide": true}

type isoBox struct {
	typ          string
	start, size  int64 // the whole box, header included
	headerLength int64
}

// readBoxHeader reads the box header at off in a file (or box payload) of end bytes.
func readBoxHeader(r io.ReaderAt, off, end int64) (isoBox, error) {
	if end-off < 8 {
		return isoBox{}, fmt.Errorf("a box header at offset %d is cut off (%d bytes left)", off, end-off)
	}
	var h [16]byte
	if _, err := r.ReadAt(h[:8], off); err != nil {
		return isoBox{}, err
	}
	b := isoBox{typ: boxType(h[4:8]), start: off, size: int64(binary.BigEndian.Uint32(h[:4])), headerLength: 8}
	switch b.size {
	case 0:
		b.size = end - off
	case 1:
		if end-off < 16 {
			return isoBox{}, fmt.Errorf("the %s box at offset %d is cut off in its header", b.typ, off)
		}
		if _, err := r.ReadAt(h[8:16], off+8); err != nil {
			return isoBox{}, err
		}
		large := binary.BigEndian.Uint64(h[8:16])
		if large > 1<<62 {
			return isoBox{}, fmt.Errorf("the %s box at offset %d claims %d bytes", b.typ, off, large)
		}
		b.size, b.headerLength = int64(large), 16
	}
	if b.size < b.headerLength {
		return isoBox{}, fmt.Errorf("the %s box at offset %d has an invalid size %d", b.typ, off, b.size)
	}
	if b.size > end-off {
		return isoBox{}, fmt.Errorf("the %s box at offset %d needs %d bytes, only %d are there", b.typ, off, b.size, end-off)
	}
	return b, nil
}

// boxType is the type as text, printable characters only (it goes into error messages).
func boxType(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// checkISOBMFF checks the file's structure; errNotISOBMFF when it is not such a file.
func checkISOBMFF(path string) (isoLayout, error) {
	f, err := os.Open(path)
	if err != nil {
		return isoLayout{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return isoLayout{}, err
	}
	size := st.Size()
	var head [8]byte
	if _, err := f.ReadAt(head[:], 0); err != nil || !isoFirstBoxes[string(head[4:8])] {
		return isoLayout{}, errNotISOBMFF
	}
	var moov *isoBox
	for off := int64(0); off < size; {
		b, err := readBoxHeader(f, off, size)
		if err != nil {
			return isoLayout{}, fmt.Errorf("the file is truncated or damaged: %v", err)
		}
		if b.typ == "moov" && moov == nil {
			moov = &b
		}
		off += b.size
	}
	if moov == nil {
		return isoLayout{}, errors.New("the file has no index (moov box): truncated, or its recording never finished")
	}
	if moov.size > maxIndexBytes {
		return isoLayout{}, fmt.Errorf("the file's index (moov box) is %d bytes, more than the %d a video of the accepted length needs", moov.size, maxIndexBytes)
	}
	idx := make([]byte, moov.size-moov.headerLength)
	if _, err := f.ReadAt(idx, moov.start+moov.headerLength); err != nil {
		return isoLayout{}, err
	}
	return checkIndex(idx, size)
}

// children returns the boxes inside a box's payload.
func children(payload []byte) ([]isoBox, error) {
	r := bytesReaderAt(payload)
	var out []isoBox
	for off := int64(0); off < int64(len(payload)); {
		b, err := readBoxHeader(r, off, int64(len(payload)))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		off += b.size
	}
	return out, nil
}

func payloadOf(parent []byte, b isoBox) []byte {
	return parent[b.start+b.headerLength : b.start+b.size]
}

// child returns the payload of the first child box of type typ (nil when none).
func child(payload []byte, typ string) ([]byte, error) {
	boxes, err := children(payload)
	if err != nil {
		return nil, err
	}
	for _, b := range boxes {
		if b.typ == typ {
			return payloadOf(payload, b), nil
		}
	}
	return nil, nil
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// checkIndex checks every track of the moov payload against the file's size.
func checkIndex(moov []byte, fileSize int64) (isoLayout, error) {
	var layout isoLayout
	boxes, err := children(moov)
	if err != nil {
		return layout, fmt.Errorf("the file's index is damaged: %v", err)
	}
	for _, b := range boxes {
		if b.typ == "mvex" {
			layout.Fragmented = true // samples in movie fragments (moof), checked at the top level
		}
	}
	for i, b := range boxes {
		if b.typ != "trak" {
			continue
		}
		tr, err := checkTrack(payloadOf(moov, b), fileSize)
		if err != nil {
			return layout, fmt.Errorf("the file is truncated or damaged: track %d: %v", i+1, err)
		}
		if tr.handler == "vide" && layout.VideoWidth == 0 && layout.VideoSamples == 0 {
			layout.VideoSamples, layout.VideoWidth, layout.VideoHeight, layout.VideoDuration = tr.samples, tr.width, tr.height, tr.duration
		}
	}
	return layout, nil
}

// track is what checkTrack learns of a track.
type track struct {
	handler       string // "vide", "soun", ...
	samples       int64
	width, height int           // of its first visual sample entry (§12.1.3)
	duration      time.Duration // its media header's (§8.4.2), 0 when unknown
}

// checkTrack checks that every sample of a track lies within the file.
func checkTrack(trak []byte, fileSize int64) (tr track, err error) {
	mdia, err := child(trak, "mdia")
	if err != nil || mdia == nil {
		return tr, errOr(err, "no mdia box")
	}
	hdlr, err := child(mdia, "hdlr")
	if err != nil {
		return tr, err
	}
	if len(hdlr) >= 12 {
		tr.handler = boxType(hdlr[8:12])
	}
	mdhd, err := child(mdia, "mdhd")
	if err != nil {
		return tr, err
	}
	tr.duration = mediaDuration(mdhd)
	minf, err := child(mdia, "minf")
	if err != nil || minf == nil {
		return tr, errOr(err, "no minf box")
	}
	stbl, err := child(minf, "stbl")
	if err != nil || stbl == nil {
		return tr, errOr(err, "no sample table (stbl box)")
	}
	boxes, err := children(stbl)
	if err != nil {
		return tr, err
	}
	var stsz, stz2, stsc, stco, co64, stsd []byte
	for _, b := range boxes {
		p := payloadOf(stbl, b)
		switch b.typ {
		case "stsz":
			stsz = p
		case "stz2":
			stz2 = p
		case "stsc":
			stsc = p
		case "stco":
			stco = p
		case "co64":
			co64 = p
		case "stsd":
			stsd = p
		}
	}
	sizes, err := parseSampleSizes(stsz, stz2)
	if err != nil {
		return tr, err
	}
	offsets, err := parseChunkOffsets(stco, co64)
	if err != nil {
		return tr, err
	}
	runs, err := parseSampleToChunk(stsc)
	if err != nil {
		return tr, err
	}
	if err := checkSamples(sizes, offsets, runs, fileSize); err != nil {
		return tr, err
	}
	tr.samples = sizes.count
	if tr.handler == "vide" {
		tr.width, tr.height = visualSize(stsd)
	}
	return tr, nil
}

// visualSize is the width and height of the first sample entry of an stsd payload, read as
// a VisualSampleEntry (§12.1.3: 8 bytes of box header, 24 of other fields, then width and
// height, 16 bits each); 0, 0 when there is none.
func visualSize(stsd []byte) (int, int) {
	if len(stsd) < 8+8+28 || binary.BigEndian.Uint32(stsd[4:]) == 0 {
		return 0, 0
	}
	entry := stsd[8:]
	return int(binary.BigEndian.Uint16(entry[8+24:])), int(binary.BigEndian.Uint16(entry[8+26:]))
}

// mediaDuration is an mdhd's duration (§8.4.2.2: version 0 with 32-bit fields, 1 with
// 64-bit times), 0 when unknown.
func mediaDuration(mdhd []byte) time.Duration {
	var scale, dur uint64
	switch {
	case len(mdhd) >= 24 && mdhd[0] == 0:
		scale, dur = uint64(binary.BigEndian.Uint32(mdhd[12:])), uint64(binary.BigEndian.Uint32(mdhd[16:]))
		if dur == 0xffffffff {
			return 0
		}
	case len(mdhd) >= 36 && mdhd[0] == 1:
		scale, dur = uint64(binary.BigEndian.Uint32(mdhd[20:])), binary.BigEndian.Uint64(mdhd[24:])
		if dur == 1<<64-1 {
			return 0
		}
	}
	if scale == 0 || dur/scale > 1<<32 {
		return 0
	}
	return time.Duration(dur/scale)*time.Second + time.Duration((dur%scale)*uint64(time.Second)/scale)
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// sampleSizes is a track's stsz or stz2: one size for all samples, or a table.
type sampleSizes struct {
	count    int64
	constant int64  // when not 0, every sample's size
	bits     int    // the table's entry size: 4, 8, 16 or 32
	table    []byte // entries, when constant is 0
}

func (s sampleSizes) size(i int64) int64 {
	switch {
	case s.constant != 0:
		return s.constant
	case s.bits == 32:
		return int64(binary.BigEndian.Uint32(s.table[4*i:]))
	case s.bits == 16:
		return int64(binary.BigEndian.Uint16(s.table[2*i:]))
	case s.bits == 8:
		return int64(s.table[i])
	}
	b := s.table[i/2]
	if i%2 == 0 {
		return int64(b >> 4)
	}
	return int64(b & 0x0f)
}

func parseSampleSizes(stsz, stz2 []byte) (sampleSizes, error) {
	switch {
	case stsz != nil:
		if len(stsz) < 12 {
			return sampleSizes{}, errors.New("the sample size table (stsz) is cut off")
		}
		s := sampleSizes{constant: int64(binary.BigEndian.Uint32(stsz[4:])), count: int64(binary.BigEndian.Uint32(stsz[8:])), bits: 32}
		if s.constant == 0 {
			if int64(len(stsz)-12) < 4*s.count {
				return sampleSizes{}, fmt.Errorf("the sample size table (stsz) lists %d samples in %d bytes", s.count, len(stsz)-12)
			}
			s.table = stsz[12:]
		}
		return s, nil
	case stz2 != nil:
		if len(stz2) < 12 {
			return sampleSizes{}, errors.New("the sample size table (stz2) is cut off")
		}
		s := sampleSizes{bits: int(stz2[7]), count: int64(binary.BigEndian.Uint32(stz2[8:]))}
		if s.bits != 4 && s.bits != 8 && s.bits != 16 {
			return sampleSizes{}, fmt.Errorf("the sample size table (stz2) has %d-bit entries", s.bits)
		}
		if int64(len(stz2)-12)*8 < int64(s.bits)*s.count {
			return sampleSizes{}, fmt.Errorf("the sample size table (stz2) lists %d samples in %d bytes", s.count, len(stz2)-12)
		}
		s.table = stz2[12:]
		return s, nil
	}
	return sampleSizes{}, errors.New("no sample size table (stsz)")
}

// chunkOffsets is a track's stco (32-bit) or co64 (64-bit) table.
type chunkOffsets struct {
	count int64
	wide  bool
	table []byte
}

func (c chunkOffsets) at(i int64) int64 {
	if c.wide {
		return int64(binary.BigEndian.Uint64(c.table[8*i:]) & (1<<63 - 1))
	}
	return int64(binary.BigEndian.Uint32(c.table[4*i:]))
}

func parseChunkOffsets(stco, co64 []byte) (chunkOffsets, error) {
	box, width := stco, int64(4)
	if box == nil {
		box, width = co64, 8
	}
	if box == nil {
		return chunkOffsets{}, errors.New("no chunk offset table (stco)")
	}
	if len(box) < 8 {
		return chunkOffsets{}, errors.New("the chunk offset table is cut off")
	}
	c := chunkOffsets{count: int64(binary.BigEndian.Uint32(box[4:])), wide: width == 8, table: box[8:]}
	if int64(len(c.table)) < width*c.count {
		return chunkOffsets{}, fmt.Errorf("the chunk offset table lists %d chunks in %d bytes", c.count, len(c.table))
	}
	return c, nil
}

// chunkRun is an stsc entry: from chunk first (1-based) on, perChunk samples per chunk.
type chunkRun struct{ first, perChunk int64 }

func parseSampleToChunk(stsc []byte) ([]chunkRun, error) {
	if len(stsc) < 8 {
		return nil, errors.New("no sample-to-chunk table (stsc)")
	}
	n := int64(binary.BigEndian.Uint32(stsc[4:]))
	if int64(len(stsc)-8) < 12*n {
		return nil, fmt.Errorf("the sample-to-chunk table lists %d entries in %d bytes", n, len(stsc)-8)
	}
	runs := make([]chunkRun, n)
	for i := range runs {
		e := stsc[8+12*i:]
		runs[i] = chunkRun{first: int64(binary.BigEndian.Uint32(e)), perChunk: int64(binary.BigEndian.Uint32(e[4:]))}
		if runs[i].first < 1 || (i > 0 && runs[i].first <= runs[i-1].first) {
			return nil, errors.New("the sample-to-chunk table is out of order")
		}
	}
	return runs, nil
}

// checkSamples walks the chunks: each chunk's samples follow one another from the chunk's
// offset, and the last byte of each must be within the file. The work is bounded by the
// tables' sizes, not by the counts they claim.
func checkSamples(sizes sampleSizes, offsets chunkOffsets, runs []chunkRun, fileSize int64) error {
	sample := int64(0)
	for r, run := range runs {
		last := offsets.count // the run's last chunk, 1-based
		if r+1 < len(runs) {
			last = min(runs[r+1].first-1, offsets.count)
		}
		for chunk := run.first; chunk <= last && sample < sizes.count; chunk++ {
			n := min(run.perChunk, sizes.count-sample)
			off := offsets.at(chunk - 1)
			var end int64
			if sizes.constant != 0 {
				if n > (fileSize-off)/sizes.constant { // also keeps n × size from overflowing
					end = fileSize + 1
				} else {
					end = off + n*sizes.constant
				}
			} else {
				end = off
				for i := sample; i < sample+n; i++ {
					end += sizes.size(i)
				}
			}
			if end > fileSize {
				return fmt.Errorf("samples %d to %d (chunk %d, from byte %d) end past the end of the file (%d bytes)", sample+1, sample+n, chunk, off, fileSize)
			}
			sample += n
		}
	}
	if sample < sizes.count {
		return fmt.Errorf("the chunks hold %d of the %d samples", sample, sizes.count)
	}
	return nil
}
