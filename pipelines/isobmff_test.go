package pipelines

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// encodeMP4 encodes frames of 160×120 H.264 (with a 5-second AAC track when audio) into an MP4;
// faststart puts the index (moov) before the media data (mdat).
func encodeMP4(t *testing.T, frames int, faststart, audio bool) []byte {
	t.Helper()
	gsttest.Init(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "v.mp4")
	launch := fmt.Sprintf("videotestsrc num-buffers=%d ! video/x-raw,width=160,height=120,framerate=30/1 ! "+
		"x264enc speed-preset=ultrafast key-int-max=10 ! mux. mp4mux name=mux faststart=%t faststart-file=%s ! filesink location=%s",
		frames, faststart, filepath.Join(dir, "fs.tmp"), path)
	if audio {
		launch += " audiotestsrc num-buffers=20 ! audioconvert ! avenc_aac ! mux."
	}
	if err := gsttest.RunToEOS(launch, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// topBoxes lists the file's top-level boxes: type → [start, end).
func topBoxes(t *testing.T, b []byte) map[string][2]int {
	t.Helper()
	out := map[string][2]int{}
	for off := 0; off+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[off:]))
		if size == 1 {
			size = int(binary.BigEndian.Uint64(b[off+8:]))
		}
		out[string(b[off+4:off+8])] = [2]int{off, off + size}
		off += size
	}
	return out
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.mp4")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A whole MP4 passes, with its frame count from the index; the same file cut anywhere in its
// media data or its index is refused as not playable, naming why; a file that is not an
// ISO base media file is left to the discoverer.
func TestProbeRefusesTruncatedMP4(t *testing.T) {
	for _, faststart := range []bool{true, false} {
		t.Run(fmt.Sprintf("faststart=%t", faststart), func(t *testing.T) {
			video := encodeMP4(t, 60, faststart, true)
			info, err := Probe(writeTemp(t, video), 10*time.Second)
			if err != nil {
				t.Fatalf("the whole file: %v", err)
			}
			if info.Frames != 60 || info.Width != 160 {
				t.Errorf("the whole file: %+v, want 60 frames of 160×120", info)
			}
			boxes := topBoxes(t, video)
			mdat, moov := boxes["mdat"], boxes["moov"]
			if mdat[1] == 0 || moov[1] == 0 {
				t.Fatalf("no mdat or moov: %v", boxes)
			}
			cuts := map[string]int{
				"in the middle of the media data":  (mdat[0] + mdat[1]) / 2,
				"one byte short of the media data": mdat[1] - 1,
				"in the middle of the index":       (moov[0] + moov[1]) / 2,
			}
			if faststart {
				cuts["right after the index"] = moov[1]
			} else {
				cuts["right before the index"] = moov[0]
			}
			for name, cut := range cuts {
				if cut >= len(video) {
					continue // the index or media data is last: cut only by the others
				}
				_, err := Probe(writeTemp(t, video[:cut]), 10*time.Second)
				if !errors.Is(err, ErrNotVideo) || !strings.Contains(err.Error(), "trunc") {
					t.Errorf("cut %s (at %d of %d): %v, want ErrNotVideo saying truncated", name, cut, len(video), err)
				}
			}
		})
	}
	// Not an ISO base media file: the structure check does not apply.
	if _, err := checkISOBMFF(writeTemp(t, []byte("\x1aE\xdf\xa3 a WebM header and more"))); !errors.Is(err, errNotISOBMFF) {
		t.Errorf("a non-MP4: %v", err)
	}
}

// box builds a box; large writes the 64-bit size form.
func box(typ string, large bool, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	var b bytes.Buffer
	if large {
		binary.Write(&b, binary.BigEndian, uint32(1))
		b.WriteString(typ)
		binary.Write(&b, binary.BigEndian, uint64(16+len(body)))
	} else {
		binary.Write(&b, binary.BigEndian, uint32(8+len(body)))
		b.WriteString(typ)
	}
	b.Write(body)
	return b.Bytes()
}

func u32s(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.BigEndian.PutUint32(b[4*i:], x)
	}
	return b
}

// syntheticMP4 is a file with one video track of sampleCount samples of sampleSize bytes, in
// one chunk at the start of a mdat of mdatSize bytes (written with a 64-bit size).
func syntheticMP4(sampleCount, sampleSize uint32, mdatSize int) []byte {
	ftyp := box("ftyp", false, []byte("isom"), u32s(0x200), []byte("isomiso2avc1mp41"))
	stbl := func(chunkOffset uint32) []byte {
		return box("stbl", false,
			box("stsd", false, u32s(0, 0)),
			box("stts", false, u32s(0, 1, sampleCount, 1000)),
			box("stsc", false, u32s(0, 1, 1, sampleCount, 1)),
			box("stsz", false, u32s(0, sampleSize, sampleCount)),
			box("stco", false, u32s(0, 1, chunkOffset)))
	}
	moov := func(chunkOffset uint32) []byte {
		return box("moov", false, box("trak", false, box("mdia", false,
			box("hdlr", false, u32s(0, 0), []byte("vide"), u32s(0, 0, 0), []byte("v\x00")),
			box("minf", false, stbl(chunkOffset)))))
	}
	head := len(ftyp) + len(moov(0)) + 16 // the mdat's payload starts here
	return bytes.Join([][]byte{ftyp, moov(uint32(head)), box("mdat", true, make([]byte, mdatSize))}, nil)
}

func TestCheckISOBMFFSynthetic(t *testing.T) {
	// 10 samples of 100 bytes in a mdat of 1000, 64-bit size: fine.
	ok := syntheticMP4(10, 100, 1000)
	if layout, err := checkISOBMFF(writeTemp(t, ok)); err != nil || layout.VideoSamples != 10 {
		t.Fatalf("valid file: %+v %v", layout, err)
	}
	// The index claims one more sample than the data holds, in a mdat that ends with the file:
	// only the sample table tells.
	bad := syntheticMP4(11, 100, 1000)
	if _, err := checkISOBMFF(writeTemp(t, bad)); err == nil || !strings.Contains(err.Error(), "end past the end of the file") {
		t.Errorf("a sample past the end: %v", err)
	}
	// A sample count that would overflow a size computation, with a constant size.
	huge := syntheticMP4(0xffffffff, 0xffffffff, 1000)
	if _, err := checkISOBMFF(writeTemp(t, huge)); err == nil {
		t.Error("2^32 samples of 4 GB in 1000 bytes: accepted")
	}
	// The mdat's 64-bit size says more than the file has.
	if _, err := checkISOBMFF(writeTemp(t, ok[:len(ok)-1])); err == nil || !strings.Contains(err.Error(), "mdat box") {
		t.Errorf("a cut 64-bit mdat: %v", err)
	}
	// A size-0 box runs to the end of the file.
	zero := bytes.Clone(ok)
	mdat := bytes.Index(zero, []byte("mdat")) - 4
	zero = append(append(zero[:mdat:mdat], 0, 0, 0, 0, 'm', 'd', 'a', 't'), make([]byte, 1008)...)
	if _, err := checkISOBMFF(writeTemp(t, zero)); err != nil {
		t.Errorf("a size-0 mdat: %v", err)
	}
	// No index at all.
	if _, err := checkISOBMFF(writeTemp(t, box("ftyp", false, []byte("isom")))); err == nil || !strings.Contains(err.Error(), "no index") {
		t.Errorf("no moov: %v", err)
	}
}

// ProbeWithin checks an MP4's declared frame size, frame count and duration before the
// discoverer runs (it decodes the first frame: gigabytes for a huge one), and everything
// again after it.
func TestProbeWithinChecksBeforeDecoding(t *testing.T) {
	gsttest.Init(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "big.mp4")
	if err := gsttest.RunToEOS(fmt.Sprintf("videotestsrc num-buffers=2 ! video/x-raw,width=2048,height=2048,framerate=25/1 ! "+
		"x264enc speed-preset=ultrafast ! mp4mux ! filesink location=%s", path), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	tooLarge := errors.New("too large")
	var seen []MediaInfo
	_, err := ProbeWithin(path, 10*time.Second, func(mi MediaInfo) error {
		seen = append(seen, mi)
		if mi.Width*mi.Height > 1920*1080 {
			return tooLarge
		}
		return nil
	})
	if err != tooLarge || len(seen) != 1 {
		t.Fatalf("ProbeWithin: %v after %d checks, want the check's error after one", err, len(seen))
	}
	// The one check saw the index's values: the discoverer (which fills in the container) had
	// not run.
	if mi := seen[0]; mi.Width != 2048 || mi.Height != 2048 || mi.Frames != 2 || mi.Duration != 80*time.Millisecond || mi.Container != "" {
		t.Errorf("the check before decoding saw %+v", mi)
	}

	// A video within the limits: checked from its index, then from the discoverer's answer.
	seen = nil
	small := writeTemp(t, encodeMP4(t, 30, true, false))
	info, err := ProbeWithin(small, 10*time.Second, func(mi MediaInfo) error { seen = append(seen, mi); return nil })
	if err != nil || len(seen) != 2 || seen[1] != info || info.Width != 160 || info.Frames != 30 {
		t.Fatalf("ProbeWithin(small): %+v %v, checks %+v", info, err, seen)
	}
}
