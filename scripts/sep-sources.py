#!/usr/bin/python3
"""SEP's source list for test/fixtures/stars/sep_image.fits, written once into a fixture JSON.

Run with Debian's interpreter (python3-sep 1.2.1, python3-astropy):
    /usr/bin/python3 scripts/sep-sources.py > test/fixtures/stars/sep_image_sep15.json
The tests read only that JSON; they never call Python.

SEP's documented defaults throughout: Background(bw=64, bh=64, fw=3, fh=3), then extract on the
background-subtracted frame at an absolute threshold of 1.5 × the global background RMS with
extract's default options (minarea 5, 3×3 conv filter, 32 deblend levels, contrast 0.005,
cleaning on). SEP positions are zero-based with pixel centres at integers, as ours.
"""
import json
import sys

import numpy as np
import sep
from astropy.io import fits

PATH = 'test/fixtures/stars/sep_image.fits'


def main() -> None:
    data = fits.getdata(PATH).astype(np.float64)
    bkg = sep.Background(data)
    threshold = 1.5 * bkg.globalrms
    objects = sep.extract(data - bkg, threshold)
    sources = [
        {
            'x': round(float(o['x']), 4),
            'y': round(float(o['y']), 4),
            'npix': int(o['npix']),
            'flux': round(float(o['flux']), 2),
            'peak': round(float(o['peak']), 2),
            'a': round(float(o['a']), 4),
            'b': round(float(o['b']), 4),
            'flag': int(o['flag']),
        }
        for o in objects
    ]
    json.dump(
        {
            'source': PATH,
            'generator': 'scripts/sep-sources.py',
            'sep': sep.__version__,
            'globalback': float(bkg.globalback),
            'globalrms': float(bkg.globalrms),
            'threshold': float(threshold),
            'sources': sources,
        },
        sys.stdout,
        indent=1,
    )
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
