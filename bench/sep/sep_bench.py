#!/usr/bin/python3
"""SEP's side of bench/stars-sep.bench.ts: times sep.Background, sep.extract, SEP's per-star
measurement calls and the whole pipeline on one frame, one thread, and prints one JSON object
on stdout.

Usage: /usr/bin/python3 bench/sep/sep_bench.py FRAME.f32 WIDTH HEIGHT REPEATS THRESH_SIGMA FWHM

FRAME.f32 is the frame as raw little-endian float32, row-major (written by the TypeScript bench;
reading it is not timed). Each stage runs once untimed (warm-up), then REPEATS times; the
medians of time.perf_counter() (wall) and time.process_time() (CPU) are reported in ms.
"""
import json
import statistics
import sys
import time

import numpy as np
import sep


def timed(fn, repeats):
    """Wall-clock (perf_counter) and this process's CPU time (process_time) per call, ms: on a
    shared machine the CPU time is the steadier of the two."""
    fn()
    times = []
    cpu = []
    for _ in range(repeats):
        c = time.process_time()
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
        cpu.append((time.process_time() - c) * 1000.0)
    return {"medianMs": statistics.median(times), "cpuMedianMs": statistics.median(cpu), "samples": repeats, "allMs": times, "allCpuMs": cpu}


def main():
    path, w, h, repeats, thresh, fwhm = sys.argv[1:7]
    w, h, repeats, thresh, fwhm = int(w), int(h), int(repeats), float(thresh), float(fwhm)
    data = np.fromfile(path, dtype="<f4").reshape(h, w)
    data = np.ascontiguousarray(data, dtype=np.float32)

    # (1) the background: the mesh grid alone (what sep.Background computes), and the grid plus
    # the full-resolution level and rms planes (what a per-pixel map costs).
    grid = timed(lambda: sep.Background(data), repeats)
    full = timed(lambda: (lambda b: (b.back(), b.rms()))(sep.Background(data)), repeats)
    bkg = sep.Background(data)
    sub = data - bkg.back()
    err = bkg.globalrms

    # (2) detection on the background-subtracted frame, threshold in σ of the global rms, SEP's
    # default 3×3 filter (matched, since an error is given). back() and the subtraction are not
    # timed: SEP's side is charged extract alone, where ours evaluates its sky on the fly.
    det = timed(lambda: sep.extract(sub, thresh, err=err), repeats)
    objs = sep.extract(sub, thresh, err=err)
    x = np.ascontiguousarray(objs["x"], dtype=np.float64)
    y = np.ascontiguousarray(objs["y"], dtype=np.float64)

    # (3) measurement at the detected positions: windowed centroid (σ from the expected FWHM, as
    # SEP's documentation does it), half-light radius and a circular aperture sum of radius 3 px.
    def measure(sub, x, y, err):
        sig = np.full(len(x), fwhm / 2.3548200450309493)
        rmax = np.full(len(x), 3.0 * fwhm)
        xw, yw, _ = sep.winpos(sub, x, y, sig)
        sep.flux_radius(sub, xw, yw, rmax, 0.5, subpix=5)
        sep.sum_circle(sub, xw, yw, 3.0, err=err, gain=1.0)

    meas = timed(lambda: measure(sub, x, y, err), repeats)

    # (4) the whole pipeline from the raw frame: Background, back(), the subtraction, extract,
    # and the measurement at the detected positions.
    def pipeline():
        b = sep.Background(data)
        s = data - b.back()
        o = sep.extract(s, thresh, err=b.globalrms)
        measure(s, np.ascontiguousarray(o["x"], dtype=np.float64), np.ascontiguousarray(o["y"], dtype=np.float64), b.globalrms)

    whole = timed(pipeline, repeats)
    print(json.dumps({
        "sep": sep.__version__,
        "numpy": np.__version__,
        "backgroundGrid": grid,
        "backgroundMap": full,
        "detection": det,
        "detected": int(len(x)),
        "measurement": meas,
        "pipeline": whole,
        "globalBack": float(bkg.globalback),
        "globalRms": float(bkg.globalrms),
    }))


if __name__ == "__main__":
    main()
