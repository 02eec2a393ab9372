#!/usr/bin/env python3
"""make_viridis_fit.py — the coefficients of plots/colormap.cpp's viridis().

Viridis (S. van der Walt and N. Smith, matplotlib 2.0's default colour map, released CC0) is published as a
table of 256 sRGB colours. plots/ does not carry the table: it evaluates, per channel, a polynomial of degree 7
in t ∈ [0, 1] fitted here by least squares to matplotlib's table. Run with Debian's python3-matplotlib:

    python3 tests/reference/make_viridis_fit.py

It prints the coefficients (lowest power first) to paste into plots/colormap.cpp and the largest deviation from
matplotlib's table in 8-bit units (2.65 for the committed fit). Building and testing never need it.
"""
import numpy as np
from matplotlib import cm

DEGREE = 7

t = np.linspace(0.0, 1.0, 256)
table = cm.get_cmap("viridis")(t)[:, :3]
fits = [np.polyfit(t, table[:, channel], DEGREE) for channel in range(3)]
worst = max(np.abs(np.polyval(p, t) - table[:, c]).max() for c, p in enumerate(fits)) * 255
for name, p in zip("rgb", fits):
    print(f"// {name}: " + ", ".join(f"{x:.9g}" for x in p[::-1]))
print(f"largest deviation from matplotlib's table: {worst:.2f} / 255")
