#!/usr/bin/python3
"""Generates the SEP background references of test/stars/background.test.ts (run once; the tests
read the committed files and never call python):

  test/fixtures/stars/sep_bkg_synthetic.f32   a 256×256 synthetic frame (raw float32, row-major):
      sky 1000 ADU with a 0.3 / 0.2 ADU·px⁻¹ gradient, a nebula blob (1000 ADU, σ 20 px), 40
      Gaussian stars (FWHM 3.5, 2e3–2e5 ADU) and Gaussian noise of σ 26 ADU; numpy seed 12
  test/fixtures/stars/sep_background.json     sep.Background of that frame and of sep_image.fits
      for mesh 64 and 32 px with SEP's default 3×3 filter: global level and rms, and the level and
      rms maps (back(), rms()) sampled every 8 px from pixel (3, 3), row-major

Usage: /usr/bin/python3 bench/sep/sep_background_reference.py   (from the repository root;
needs sep and astropy, as Debian's python3-sep and python3-astropy provide)
"""
import json
import os

import numpy as np
import sep
from astropy.io import fits

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "test", "fixtures", "stars")
STEP = 8
START = 3


def synthetic():
    rng = np.random.default_rng(12)
    h = w = 256
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    sky = 1000.0 + 0.3 * x + 0.2 * y + 1000.0 * np.exp(-((x - 170) ** 2 + (y - 90) ** 2) / (2 * 20.0**2))
    img = sky.copy()
    s = 3.5 / 2.3548200450309493
    for _ in range(40):
        cx, cy = rng.uniform(8, w - 8), rng.uniform(8, h - 8)
        flux = 2000.0 * 100.0 ** rng.uniform()
        img += flux / (2 * np.pi * s * s) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
    img += rng.normal(0.0, 26.0, (h, w))
    return img.astype(np.float32)


def case(name, data, bw, fw):
    b = sep.Background(data, bw=bw, bh=bw, fw=fw, fh=fw)
    back = b.back()[START::STEP, START::STEP]
    rms = b.rms()[START::STEP, START::STEP]
    return {
        "frame": name,
        "tileSize": bw,
        "filterSize": fw,
        "globalBack": float(b.globalback),
        "globalRms": float(b.globalrms),
        "start": START,
        "step": STEP,
        "rows": int(back.shape[0]),
        "cols": int(back.shape[1]),
        "back": [round(float(v), 3) for v in back.ravel()],
        "rms": [round(float(v), 4) for v in rms.ravel()],
    }


def main():
    syn = synthetic()
    syn.astype("<f4").tofile(os.path.join(FIX, "sep_bkg_synthetic.f32"))
    real = np.ascontiguousarray(fits.getdata(os.path.join(FIX, "sep_image.fits")), dtype=np.float32)
    cases = []
    for bw in (64, 32):
        cases.append(case("sep_bkg_synthetic.f32", syn, bw, 3))
        cases.append(case("sep_image.fits", real, bw, 3))
    out = {
        "generator": "bench/sep/sep_background_reference.py",
        "sep": sep.__version__,
        "numpy": np.__version__,
        "width": 256,
        "height": 256,
        "cases": cases,
    }
    with open(os.path.join(FIX, "sep_background.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
