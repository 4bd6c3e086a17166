package bgsub

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const learning = 60 // frames the model needs before it is judged

// openCVMasks runs the OpenCV reference over the scene and returns its raw and clean masks
// and its blobs per frame.
func openCVMasks(t testing.TB, sc *scene, seed int) (raw, clean [][]byte, blobs [][]Region) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "frames.raw"), filepath.Join(dir, "masks.raw")
	var all bytes.Buffer
	for _, f := range sc.frames {
		all.Write(f)
	}
	if err := os.WriteFile(in, all.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", "opencv_reference.py", "masks", strconv.Itoa(sc.w), strconv.Itoa(sc.h), in, out)
	cmd.Env = append(os.Environ(), "EBRCS_CV_SEED="+strconv.Itoa(seed))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("OpenCV reference (python3-opencv from scripts/install-deps.sh): %v\n%s", err, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	n, size := len(sc.frames), sc.w*sc.h
	for i := 0; i < n; i++ {
		raw = append(raw, data[i*size:(i+1)*size])
		clean = append(clean, data[(n+i)*size:(n+i+1)*size])
	}
	sca := bufio.NewScanner(bytes.NewReader(stdout))
	for sca.Scan() {
		_, list, _ := strings.Cut(sca.Text(), " ")
		var regions []Region
		for _, b := range strings.Split(list, ";") {
			if b == "" {
				continue
			}
			var x, y, w, h int
			var area float64
			fmt.Sscanf(b, "%d,%d,%d,%d,%f", &x, &y, &w, &h, &area)
			regions = append(regions, Region{Box: image.Rect(x, y, x+w, y+h), Area: area})
		}
		blobs = append(blobs, regions)
	}
	return raw, clean, blobs
}

func iou(a, b []byte) (inter, union int) {
	for i := range a {
		fa, fb := a[i] != 0, b[i] != 0
		if fa && fb {
			inter++
		}
		if fa || fb {
			union++
		}
	}
	return
}

// Our masks against OpenCV's own BackgroundSubtractorKNN on the same frames: the mean
// foreground IoU after the learning period must be at least 0.90, for the raw KNN masks and
// for the cleaned masks; and the blobs (boxes and contour areas) must agree.
func TestMatchesOpenCV(t *testing.T) {
	sc := newScene(320, 240, 240, 1)
	cvRaw, cvClean, cvBlobs := openCVMasks(t, sc, 0)

	n := sc.w * sc.h
	sub, err := NewSubtractor(sc.w, sc.h, DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	mask, tmp := make([]byte, n), make([]byte, n)
	var finder RegionFinder
	var rawSum, cleanSum float64
	var frames, blobFrames, blobMatches, blobTotal int
	var areaErr float64
	for f, frame := range sc.frames {
		c0, c1, c2 := planes(frame, n)
		sub.Apply(c0, c1, c2, mask)
		rawI, rawU := iou(mask, cvRaw[f])
		CleanMask(mask, tmp, sc.w, sc.h, 2, 4, 200)
		cleanI, cleanU := iou(mask, cvClean[f])
		ours := finder.Find(mask, sc.w, sc.h)
		if f < learning {
			continue
		}
		rawSum += ratio(rawI, rawU)
		cleanSum += ratio(cleanI, cleanU)
		frames++
		// Blobs: each of OpenCV's big blobs has one of ours with a near-identical box.
		if len(cvBlobs[f]) > 0 {
			blobFrames++
		}
		for _, want := range cvBlobs[f] {
			if want.Area < 200 {
				continue
			}
			blobTotal++
			for _, got := range ours {
				if boxIoU(got.Box, want.Box) >= 0.9 {
					blobMatches++
					areaErr += abs(got.Area-want.Area) / want.Area
					break
				}
			}
		}
	}
	rawIoU, cleanIoU := rawSum/float64(frames), cleanSum/float64(frames)
	t.Logf("mean foreground IoU vs OpenCV 4.6 KNN over %d frames (320x240, after %d learning frames): raw %.4f, cleaned %.4f", frames, learning, rawIoU, cleanIoU)

	// The noise floor: OpenCV against itself with another random seed. The samples are
	// refreshed at random phases, so no implementation can agree with OpenCV better than
	// OpenCV agrees with itself.
	cvRaw2, cvClean2, _ := openCVMasks(t, sc, 1)
	var floorRaw, floorClean float64
	for f := learning; f < len(sc.frames); f++ {
		i, u := iou(cvRaw[f], cvRaw2[f])
		floorRaw += ratio(i, u)
		i, u = iou(cvClean[f], cvClean2[f])
		floorClean += ratio(i, u)
	}
	floorRaw /= float64(frames)
	floorClean /= float64(frames)
	t.Logf("noise floor, OpenCV vs OpenCV with another seed: raw %.4f, cleaned %.4f", floorRaw, floorClean)
	if rawIoU < floorRaw-0.02 || cleanIoU < floorClean-0.02 {
		t.Errorf("we agree with OpenCV less than OpenCV agrees with itself (raw %.4f vs %.4f, cleaned %.4f vs %.4f)", rawIoU, floorRaw, cleanIoU, floorClean)
	}
	t.Logf("blobs: %d of %d OpenCV blobs (area >= 200) matched by box IoU >= 0.9; mean relative area difference %.4f", blobMatches, blobTotal, areaErr/float64(max(blobMatches, 1)))
	if rawIoU < 0.90 || cleanIoU < 0.90 {
		t.Fatalf("IoU below 0.90: raw %.4f cleaned %.4f", rawIoU, cleanIoU)
	}
	if blobTotal == 0 || float64(blobMatches) < 0.9*float64(blobTotal) {
		t.Fatalf("only %d of %d OpenCV blobs matched", blobMatches, blobTotal)
	}
}

func ratio(i, u int) float64 {
	if u == 0 {
		return 1
	}
	return float64(i) / float64(u)
}

func boxIoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	ia := float64(in.Dx() * in.Dy())
	ua := float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ia
	if ua <= 0 {
		return 0
	}
	return ia / ua
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
