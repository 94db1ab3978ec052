#!/usr/bin/env python3
"""Fold `perf script` call stacks and draw them as a flame graph.

    perf script -i perf.data | bench/flame.py --folded out.folded --svg out.svg
    bench/flame.py --from-folded out.folded[.gz] --svg out.svg [--title T]

Folding: each sample of `perf script` (a header line, then one frame per
line, innermost first, a blank line at the end) becomes one line
"outer;...;inner COUNT" after identical stacks are summed; the command name
is the outermost frame. The SVG is a plain flame graph: one
rectangle per frame, width proportional to its samples, roots at the
bottom, with a <title> tooltip giving the samples and the share; frames
narrower than a pixel are left out.
"""
import argparse
import collections
import gzip
import html
import re
import sys

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.+?)(?:\s+\((.*)\))?$")


def fold(lines):
    stacks = collections.Counter()
    comm, frames = None, []

    def flush():
        if comm is not None:
            stacks[";".join([comm] + frames[::-1])] += 1

    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        if not line[0].isspace():
            flush()
            comm, frames = line.split()[0], []
            continue
        m = FRAME.match(line)
        if m is None:
            continue
        sym = m.group(1)
        if sym == "[unknown]" and m.group(2):
            sym = "[" + m.group(2).rsplit("/", 1)[-1] + "]"
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        frames.append(sym.replace(";", ":"))
    flush()
    return stacks


def read_folded(path):
    stacks = collections.Counter()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if stack and n.isdigit():
                stacks[stack] += int(n)
    return stacks


def tree(stacks):
    root = {"n": 0, "kids": {}}
    for stack, n in stacks.items():
        node = root
        node["n"] += n
        for f in stack.split(";"):
            node = node["kids"].setdefault(f, {"n": 0, "kids": {}})
            node["n"] += n
    return root


def color(name):
    h = 0
    for c in name:
        h = (h * 31 + ord(c)) & 0xFFFFFF
    return "rgb(%d,%d,%d)" % (205 + h % 50, 80 + (h >> 8) % 120,
                              (h >> 16) % 60)


def svg(stacks, out, title, width=1200, row=16):
    root = tree(stacks)
    total = max(root["n"], 1)
    depth = [0]

    def walk(node, lvl):
        depth[0] = max(depth[0], lvl)
        for k in node["kids"].values():
            walk(k, lvl + 1)
    walk(root, 0)
    height = (depth[0] + 3) * row
    rects = []

    def draw(name, node, x, lvl):
        w = node["n"] / total * width
        if w < 1.0:
            return
        y = height - (lvl + 1) * row
        label = html.escape(name)
        share = 100.0 * node["n"] / total
        text = ""
        chars = int(w / 7)
        if chars >= 3:
            s = name if len(name) <= chars else name[:chars - 2] + ".."
            text = '<text x="%.1f" y="%d">%s</text>' % (x + 2, y + row - 4,
                                                       html.escape(s))
        rects.append('<g><title>%s (%d samples, %.2f%%)</title>'
                     '<rect x="%.1f" y="%d" width="%.1f" height="%d" '
                     'fill="%s"/>%s</g>' % (label, node["n"], share, x, y,
                                           w, row - 1, color(name), text))
        cx = x
        for k, kid in sorted(node["kids"].items()):
            draw(k, kid, cx, lvl + 1)
            cx += kid["n"] / total * width

    cx = 0.0
    for k, kid in sorted(root["kids"].items()):
        draw(k, kid, cx, 0)
        cx += kid["n"] / total * width
    out.write('<?xml version="1.0" standalone="no"?>\n'
              '<svg version="1.1" width="%d" height="%d" '
              'xmlns="http://www.w3.org/2000/svg" '
              'font-family="monospace" font-size="11">\n'
              '<text x="4" y="14">%s (%d samples)</text>\n%s\n</svg>\n'
              % (width, height, html.escape(title), total, "\n".join(rects)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from-folded")
    ap.add_argument("--folded")
    ap.add_argument("--svg")
    ap.add_argument("--title", default="p2p-node")
    a = ap.parse_args()
    stacks = read_folded(a.from_folded) if a.from_folded else fold(sys.stdin)
    if a.folded:
        with open(a.folded, "w") as f:
            for s, n in sorted(stacks.items()):
                f.write("%s %d\n" % (s, n))
    if a.svg:
        with open(a.svg, "w") as f:
            svg(stacks, f, a.title)
    if not a.folded and not a.svg:
        for s, n in sorted(stacks.items()):
            print(s, n)


if __name__ == "__main__":
    main()
