#!/usr/bin/python3
"""plot_with_matplotlib.py — the picture matplotlib draws of a moments CSV log, to
compare with moments-plot's (plots/README.md shows the two side by side), and the
font metrics that tests/plots/test_text.cpp checks, as FreeType reads them.

Never needed to build or test moments: Debian's /usr/bin/python3 with
python3-matplotlib (3.6) only, all of matplotlib's defaults (figure 6.4 x 4.8 in at
100 dpi, DejaVu Sans 10 pt, lines 1.5 pt, tab10 colours).

  /usr/bin/python3 tests/reference/plot_with_matplotlib.py LOG.csv --out chart.png \
      [--y COL1,COL2,...] [--x COLUMN] [--log-y] [--title TEXT]
  /usr/bin/python3 tests/reference/plot_with_matplotlib.py --metrics   # DejaVu Sans in font units

The chart is what `moments-plot LOG.csv --out chart.png --width 640 --height 480`
draws with the same options: the x column (default "step") against each y column
(default every other column), one line per column, a legend, the y label when there
is one y column. Empty cells are missing values (gaps), as moments-plot reads them.
"""
import argparse
import csv
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def metrics():
    from matplotlib import ft2font

    font = ft2font.FT2Font(FONT, hinting_factor=1)  # unscaled: font units, no 1/8 pixel factor
    print("units per em", font.units_per_EM, "ascent", font.ascender, "descent", font.descender)
    for c in "AVTo\u2212+":
        glyph = font.load_char(ord(c), flags=ft2font.LOAD_NO_SCALE)
        print("advance %r (U+%04X) %d" % (c, ord(c), glyph.horiAdvance))
    for a, b in ["AV", "To", "VA"]:
        kern = font.get_kerning(font.get_char_index(ord(a)), font.get_char_index(ord(b)), ft2font.KERNING_UNSCALED)
        print("kerning %s%s %d" % (a, b, kern))


def read_log(path):
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    header, data = rows[0], rows[1:]

    def number(cell):
        cell = cell.strip()
        return float(cell) if cell else math.nan

    return {name: [number(r[i]) for r in data] for i, name in enumerate(header)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log", nargs="?")
    p.add_argument("--out")
    p.add_argument("--x", default="step")
    p.add_argument("--y", default="")
    p.add_argument("--log-y", action="store_true")
    p.add_argument("--title", default="")
    p.add_argument("--metrics", action="store_true")
    a = p.parse_args()
    if a.metrics:
        metrics()
        return
    if not a.log or not a.out:
        p.error("LOG.csv and --out are needed")
    log = read_log(a.log)
    ys = [c for c in a.y.split(",") if c] or [c for c in log if c != a.x]
    fig, ax = plt.subplots()  # every default: 6.4 x 4.8 in, 100 dpi
    for name in ys:
        ax.plot(log[a.x], log[name], label=name)
    if a.log_y:
        ax.set_yscale("log")
    ax.set_xlabel(a.x)
    if len(ys) == 1:
        ax.set_ylabel(ys[0])
    if a.title:
        ax.set_title(a.title)
    ax.legend()
    fig.savefig(a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
