#!/usr/bin/python3
"""OpenCV yardstick for ebrcs_bgsub (test and benchmark only; OpenCV is not part of EBRCS).

Reads frames from a raw file (N frames of H x W x 3 bytes, interleaved) and runs the original
system's steps with OpenCV itself (Debian python3-opencv 4.6), single-threaded:

    KNN = cv2.createBackgroundSubtractorKNN(history, dist2Threshold, detectShadows)
    raw = KNN.apply(frame)
    clean = threshold(dilate(erode(raw, None, 2), None, 4), 200)
    contours = findContours(clean, RETR_EXTERNAL, CHAIN_APPROX_SIMPLE)

modes:
  masks W H FRAMES OUT        writes raw masks then clean masks (2 * N * H * W bytes) to OUT and
                              one line per frame to stdout: "frame x,y,w,h,area;..." (blobs)
  time  W H FRAMES REPEAT WARM  prints the median milliseconds per frame of KNN.apply alone, and
                              of the whole chain, over REPEAT passes, each timing the frames after
                              the first WARM (the model's set-up and first frames are not timed)
"""
import os
import statistics
import sys
import time

import cv2
import numpy as np

cv2.setNumThreads(1)
cv2.ocl.setUseOpenCL(False)
# The model refreshes its samples at random phases; a different seed shows how much two
# OpenCV runs disagree by chance alone (the noise floor of any comparison).
cv2.setRNGSeed(int(os.environ.get("EBRCS_CV_SEED", "0")))


def load(w, h, path):
    data = np.fromfile(path, dtype=np.uint8)
    n = data.size // (w * h * 3)
    return data[: n * w * h * 3].reshape(n, h, w, 3)


def new_knn():
    return cv2.createBackgroundSubtractorKNN(300, 500.0, False)


def clean(raw):
    m = cv2.erode(raw, None, iterations=2)
    m = cv2.dilate(m, None, iterations=4)
    _, m = cv2.threshold(m, 200, 255, cv2.THRESH_BINARY)
    return m


def main():
    mode, w, h, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    frames = load(w, h, path)
    if mode == "masks":
        knn = new_knn()
        raws, cleans = [], []
        for i, f in enumerate(frames):
            raw = knn.apply(f)
            c = clean(raw)
            raws.append(raw)
            cleans.append(c)
            contours, _ = cv2.findContours(c, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            blobs = []
            for cnt in contours:
                x, y, bw, bh = cv2.boundingRect(cnt)
                blobs.append("%d,%d,%d,%d,%.1f" % (x, y, bw, bh, cv2.contourArea(cnt)))
            print(i, ";".join(blobs))
        with open(sys.argv[5], "wb") as out:
            out.write(np.stack(raws).tobytes())
            out.write(np.stack(cleans).tobytes())
    elif mode == "time":
        repeat, warm = int(sys.argv[5]), int(sys.argv[6])
        timed = frames[warm:]
        apply_ms, chain_ms = [], []
        for _ in range(repeat):
            knn = new_knn()
            for f in frames[:warm]:
                knn.apply(f)
            t0 = time.perf_counter()
            for f in timed:
                knn.apply(f)
            apply_ms.append((time.perf_counter() - t0) * 1000 / len(timed))
            knn = new_knn()
            for f in frames[:warm]:
                knn.apply(f)
            t0 = time.perf_counter()
            for f in timed:
                c = clean(knn.apply(f))
                cv2.findContours(c, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            chain_ms.append((time.perf_counter() - t0) * 1000 / len(timed))
        print("%.4f %.4f" % (statistics.median(apply_ms), statistics.median(chain_ms)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
