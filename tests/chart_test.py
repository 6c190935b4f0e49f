#!/usr/bin/env python3
"""Tests of `margin replay --svg FILE` and `--html FILE` (issue 16).

Standard library only. Each replay runs once with --json and --svg (and --html): every
event of the JSON output must have its marker in the SVG, <g class="event TYPE"
data-seq="N">, at the coordinates of the chart's documented scale (tools/chart.h, and the
SVG's <desc>): x of row i of N = x0 + i*(x1 - x0)/(N - 1), y of the event's mark
p = y1 - (p - pmin)*(y1 - y0)/(pmax - pmin), to 0.01 px. Also: the page parses and holds
the chart, the events and the summary; rsvg-convert (librsvg2-bin) renders the chart to a
PNG that is not blank; the committed docs/demo.svg and docs/contrast.svg are what the
built tool writes (`make charts` regenerates them).
Run through `make check` (tests/cli.sh), or by hand:
    top_builddir=/path/to/build top_srcdir=/path/to/src python3 tests/chart_test.py -v
"""

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET
import zlib
from decimal import Decimal as D

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(HERE)
BUILDDIR = os.environ.get("top_builddir") or SRCDIR
MARGIN = os.path.join(BUILDDIR, "tools", "margin")
SHARED_CSV = os.path.join(SRCDIR, "..", "shared", "data", "btcusdt-1m-2023-03-01_21.csv")
SVG = "{http://www.w3.org/2000/svg}"
TOL = D("0.011")  # the coordinates are written to 0.01 px


def run(*args, env=None):
    p = subprocess.run([MARGIN] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


def translate(g):
    m = re.fullmatch(r"translate\(([0-9.]+) ([0-9.]+)\)", g.get("transform"))
    return D(m.group(1)), D(m.group(2))


def five_minute_rows(times):
    """Row of each time of a built-in path: one row every 5 minutes from the first."""
    def minutes(t):
        h, m = t.split(":")
        return int(h) * 60 + int(m)
    first = min(minutes(t) for t in times)
    return {t: (minutes(t) - first) // 5 for t in times}


class ChartBase(unittest.TestCase):
    def replay(self, tmp, *args, html=False):
        """Run `margin replay ARGS --json --svg` (and --html); return the events, the SVG
        root and the page's text."""
        svg = os.path.join(tmp, "chart.svg")
        extra = ["--svg", svg]
        page = os.path.join(tmp, "page.html")
        if html:
            extra += ["--html", page]
        rc, out, err = run("replay", *args, "--json", *extra)
        self.assertEqual(rc, 0, err)
        events = [json.loads(line) for line in out.splitlines()]
        events = [e for e in events if e["type"] != "summary"]
        root = ET.parse(svg).getroot()
        text = None
        if html:
            with open(page, encoding="utf-8") as f:
                text = f.read()
        return events, root, text

    def check_markers(self, events, root, row_of):
        """Every event has exactly one marker, at the documented coordinates."""
        self.assertEqual(root.tag, SVG + "svg")
        panel = [g for g in root.iter(SVG + "g") if g.get("class") == "panel price"]
        self.assertEqual(len(panel), 1)
        p = panel[0]
        x0, x1, y0, y1 = (D(p.get(k)) for k in ("data-x0", "data-x1", "data-y0", "data-y1"))
        n = int(p.get("data-rows"))
        pmin, pmax = D(p.get("data-pmin")), D(p.get("data-pmax"))
        self.assertLess(pmin, pmax)
        markers = {}
        for g in root.iter(SVG + "g"):
            cls = (g.get("class") or "").split()
            if cls[:1] == ["event"]:
                key = (g.get("data-run"), int(g.get("data-seq")))
                self.assertNotIn(key, markers)
                markers[key] = (cls[1], g)
        self.assertEqual(len(markers), len(events))
        for e in events:
            cls, g = markers[(e.get("run"), e["seq"])]
            self.assertEqual(cls, e["type"], e)
            self.assertEqual(int(g.get("data-position")), e["position"])
            row = row_of(e)
            mark = D(e["mark"])
            self.assertTrue(pmin <= mark <= pmax, (e, pmin, pmax))
            x = x0 + (x1 - x0) * row / (n - 1) if n > 1 else (x0 + x1) / 2
            y = y1 - (mark - pmin) * (y1 - y0) / (pmax - pmin)
            gx, gy = translate(g)
            self.assertLessEqual(abs(gx - x), TOL, (e, gx, x))
            self.assertLessEqual(abs(gy - y), TOL, (e, gy, y))
            # the tooltip names the event
            self.assertTrue(g.find(SVG + "title").text)
        return markers


class ChartMarkers(ChartBase):
    def test_demo(self):
        with tempfile.TemporaryDirectory() as tmp:
            events, root, _ = self.replay(tmp)
        rows = five_minute_rows({e["time"] for e in events} | {"09:00"})
        markers = self.check_markers(events, root, lambda e: rows[e["time"]])
        self.assertEqual(sorted({c for c, _ in markers.values()}),
                         ["liquidation", "margin_call", "open"])

    def test_demo_lines_are_the_library_figures(self):
        # The long's liquidation line: every point at the y of its liquidation price (no
        # funding, no margin change), up to the row of its liquidation (09:50, row 10).
        with tempfile.TemporaryDirectory() as tmp:
            events, root, _ = self.replay(tmp)
        opened = [e for e in events if e["type"] == "open" and e["position"] == 1][0]
        liq = D(opened["liquidation_price"])
        p = [g for g in root.iter(SVG + "g") if g.get("class") == "panel price"][0]
        y0, y1 = D(p.get("data-y0")), D(p.get("data-y1"))
        pmin, pmax = D(p.get("data-pmin")), D(p.get("data-pmax"))
        paths = [e for e in root.iter(SVG + "path")
                 if e.get("class") == "liq" and e.get("data-position") == "1"]
        self.assertEqual(len(paths), 1)
        pts = re.findall(r"[ML]([0-9.]+) ([0-9.]+)", paths[0].get("d"))
        self.assertEqual(len(pts), 11)
        for _, y in pts:
            self.assertLessEqual(abs(D(y) - (y1 - (liq - pmin) * (y1 - y0) / (pmax - pmin))),
                                 TOL)
        for cls in ("bankruptcy", "entry", "balance", "ratio"):
            self.assertTrue([e for e in root.iter(SVG + "path") if e.get("class") == cls], cls)

    def test_contrast(self):
        with tempfile.TemporaryDirectory() as tmp:
            events, root, _ = self.replay(tmp, "--demo", "contrast")
        rows = five_minute_rows({e["time"] for e in events} | {"10:00"})
        markers = self.check_markers(events, root, lambda e: rows[e["time"]])
        self.assertIn("cross_liquidation", {c for c, _ in markers.values()})
        self.assertEqual({r for r, _ in markers}, {"isolated", "cross"})

    def test_adl_demo(self):
        with tempfile.TemporaryDirectory() as tmp:
            events, root, _ = self.replay(tmp, "--demo", "adl")
        rows = five_minute_rows({e["time"] for e in events} | {"09:00"})
        markers = self.check_markers(events, root, lambda e: rows[e["time"]])
        self.assertTrue({"adl", "liquidation", "insurance_deposit"}
                        <= {c for c, _ in markers.values()})

    def write(self, tmp, text):
        path = os.path.join(tmp, "p.csv")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_candles_stops_funding(self):
        # OHLC rows with --path updown: stop-loss, take-profit, funding every 3rd row, a
        # margin call and liquidations; each event's marker at its row and its mark (the
        # candle's point that fired it).
        csv = ("time,open,high,low,close\n"
               "t00,20000,20050,19950,20000\nt01,20000,20300,19900,20250\n"
               "t02,20250,20600,20200,20550\nt03,20550,20560,19700,19750\n"
               "t04,19750,19800,19300,19400\nt05,19400,19450,18900,19000\n"
               "t06,19000,19100,18500,18600\nt07,18600,19200,18550,19100\n")
        with tempfile.TemporaryDirectory() as tmp:
            events, root, _ = self.replay(
                tmp, "--prices", self.write(tmp, csv), "--path", "updown",
                "--position", "side=long,notional=2000,leverage=20",
                "--position", "side=long,qty=10,leverage=25",
                "--position", "side=short,notional=2000,leverage=10,stop=20500",
                "--position", "side=long,notional=2000,leverage=10,take=20500",
                "--funding", "0.001", "--funding-every", "3")
        markers = self.check_markers(events, root, lambda e: int(e["time"][1:]))
        self.assertTrue({"stop_loss", "take_profit", "funding", "margin_call", "liquidation"}
                        <= {c for c, _ in markers.values()})
        # with candles, the high-low range is drawn
        self.assertTrue([e for e in root.iter(SVG + "path") if e.get("class") == "range"])

    def test_partial_liquidation(self):
        with tempfile.TemporaryDirectory() as tmp:
            tiers = os.path.join(tmp, "t.csv")
            with open(tiers, "w") as f:
                f.write("0,0.005,0\n1000000,0.01,5000\n2000000,0.015,15000\n")
            events, root, _ = self.replay(
                tmp, "--prices", self.write(tmp, "time,price\na,51000\nb,50000\nc,50500\n"),
                "--tiers", tiers, "--position", "side=long,qty=50,margin=70000",
                "--liquidation", "tier-down")
        markers = self.check_markers(events, root, lambda e: "abc".index(e["time"]))
        self.assertIn("partial_liquidation", {c for c, _ in markers.values()})

    def test_one_row_and_escaped_text(self):
        # Time text with XML's special characters and a control character stays
        # well-formed; a single row sits in the middle.
        with tempfile.TemporaryDirectory() as tmp:
            events, root, page = self.replay(
                tmp, "--prices", self.write(tmp, "time,price\n<a & \"b\" 'c'>\x01,100\n"),
                "--position", "side=long,qty=1,leverage=2", html=True)
            ET.fromstring(page)
        self.check_markers(events, root, lambda e: 0)
        texts = "".join(root.itertext())
        self.assertIn("<a & \"b\" 'c'>?", texts)

    @unittest.skipUnless(os.path.exists(SHARED_CSV), "no ../shared/data (real candles)")
    def test_real_candles(self):
        # 30,240 one-minute candles: grouped by pixel column, the file stays small, and
        # every event still has its marker at its own row.
        with tempfile.TemporaryDirectory() as tmp:
            events, root, _ = self.replay(
                tmp, "--prices", SHARED_CSV,
                "--position", "side=long,notional=2000,leverage=20",
                "--position", "side=short,notional=2000,leverage=5,stop=26000,take=21000",
                "--funding", "0.0001", "--funding-every", "480")
            size = os.path.getsize(os.path.join(tmp, "chart.svg"))
        self.assertLess(size, 1000000)
        with open(SHARED_CSV) as f:
            rows = {line.split(",", 1)[0]: i - 1 for i, line in enumerate(f) if i > 0}
        markers = self.check_markers(events, root, lambda e: rows[e["time"]])
        self.assertTrue({"liquidation", "take_profit", "funding"}
                        <= {c for c, _ in markers.values()})


class ChartFiles(ChartBase):
    def test_deterministic(self):
        with tempfile.TemporaryDirectory() as tmp:
            outs = []
            for i, env in enumerate((None, dict(os.environ, LC_ALL="de_DE.UTF-8",
                                                LANG="de_DE.UTF-8"))):
                path = os.path.join(tmp, "%d.svg" % i)
                rc, _, err = run("replay", "--demo", "contrast", "--svg", path, env=env)
                self.assertEqual(rc, 0, err)
                with open(path, "rb") as f:
                    outs.append(f.read())
        self.assertEqual(outs[0], outs[1])

    def test_output_unchanged(self):
        # --svg and --html add files; what the replay prints stays the same.
        with tempfile.TemporaryDirectory() as tmp:
            for args in ((), ("--json",), ("--demo", "contrast")):
                plain = run("replay", *args)
                drawn = run("replay", *args, "--svg", os.path.join(tmp, "a.svg"),
                            "--html", os.path.join(tmp, "a.html"))
                self.assertEqual(plain, drawn)

    def test_html_page(self):
        with tempfile.TemporaryDirectory() as tmp:
            events, _, page = self.replay(tmp, html=True)
        root = ET.fromstring(page)  # well-formed (the page is also valid HTML5)
        self.assertEqual(root.tag, "html")
        svgs = list(root.iter(SVG + "svg"))
        self.assertEqual(len(svgs), 1)
        self.assertEqual(len([g for g in svgs[0].iter(SVG + "g")
                              if (g.get("class") or "").startswith("event ")]), len(events))
        table = [t for t in root.iter("table") if t.get("class") == "events"]
        self.assertEqual(len(table), 1)
        trs = [tr for tr in table[0].iter("tr") if tr.get("data-seq")]
        self.assertEqual([int(tr.get("data-seq")) for tr in trs], [e["seq"] for e in events])
        self.assertEqual([tr.get("class") for tr in trs], [e["type"] for e in events])
        cells = ["".join(td.itertext()) for td in trs[-1].iter("td")]
        self.assertIn("LIQUIDATED", cells)
        summary = [p for p in root.iter("pre") if p.get("class") == "summary"]
        self.assertIn("Summary after 16 marks", "".join(summary[0].itertext()))
        self.assertIn("What happened", "".join(summary[0].itertext()))
        # self-contained: no script, no link, no reference to another file or the network
        self.assertFalse(list(root.iter("script")) + list(root.iter("link")) +
                         list(root.iter("img")))
        for el in root.iter():
            for k, v in el.attrib.items():
                self.assertNotIn(k.split("}")[-1], ("src", "href"), el.tag)
        self.assertEqual(re.findall(r"https?://[^\"]*", page), ["http://www.w3.org/2000/svg"])

    def test_contrast_page(self):
        with tempfile.TemporaryDirectory() as tmp:
            events, _, page = self.replay(tmp, "--demo", "contrast", html=True)
        root = ET.fromstring(page)
        trs = [tr for tr in root.iter("tr") if tr.get("data-seq")]
        self.assertEqual(len(trs), len(events))
        self.assertIn("isolated run", page)

    def test_unwritable_file(self):
        rc, out, err = run("replay", "--svg", "/nonexistent-dir/x.svg")
        self.assertEqual(rc, 2)
        self.assertIn("--svg /nonexistent-dir/x.svg: cannot open", err)
        rc, out, err = run("replay", "--html")
        self.assertEqual(rc, 2)

    def test_help(self):
        rc, out, _ = run("replay", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--svg FILE", out)
        self.assertIn("--html FILE", out)

    def test_committed_charts_are_up_to_date(self):
        # docs/demo.svg and docs/contrast.svg, shown by the README, are what the built tool
        # writes; `make charts` regenerates them.
        with tempfile.TemporaryDirectory() as tmp:
            for name, args in (("demo.svg", ()), ("contrast.svg", ("--demo", "contrast"))):
                path = os.path.join(tmp, name)
                rc, _, err = run("replay", *args, "--svg", path)
                self.assertEqual(rc, 0, err)
                with open(path, "rb") as f:
                    made = f.read()
                with open(os.path.join(SRCDIR, "docs", name), "rb") as f:
                    committed = f.read()
                self.assertTrue(made == committed,
                                "docs/%s is out of date: run `make charts` and commit it" % name)


def png_pixels(data):
    """Decode an 8-bit, non-interlaced PNG (zlib only): (width, height, rows of pixels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and interlace == 0, ihdr
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pred) & 255
        rows.append([bytes(line[k:k + bpp]) for k in range(0, stride, bpp)])
        prev = line
    return w, h, rows


class ChartRender(unittest.TestCase):
    def test_rsvg_renders_a_picture(self):
        rsvg = shutil.which("rsvg-convert")
        if not rsvg:
            self.skipTest("rsvg-convert not found (Debian: apt-get install librsvg2-bin): "
                          "the chart is not rendered")
        with tempfile.TemporaryDirectory() as tmp:
            svg, png = os.path.join(tmp, "c.svg"), os.path.join(tmp, "c.png")
            rc, _, err = run("replay", "--demo", "contrast", "--svg", svg)
            self.assertEqual(rc, 0, err)
            p = subprocess.run([rsvg, "-o", png, svg], stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=120)
            self.assertEqual((p.returncode, p.stderr), (0, ""))
            with open(png, "rb") as f:
                w, h, rows = png_pixels(f.read())
        self.assertEqual(w, 960)
        colours = {}
        for row in rows:
            for px in row:
                colours[px] = colours.get(px, 0) + 1
        # not blank: many colours (text, lines, markers), the background white and most
        # of the picture, and a real share of it drawn
        self.assertGreater(len(colours), 20)
        white = colours.get(b"\xff\xff\xff\xff", 0) + colours.get(b"\xff\xff\xff", 0)
        self.assertGreater(white, w * h // 2)
        self.assertGreater(w * h - white, w * h // 50)


if __name__ == "__main__":
    unittest.main()
