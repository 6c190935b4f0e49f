#!/bin/sh
# Error messages quote amounts, prices, quantities and rates as decimals a person reads
# (margin__fmt), never as raw fixed-point integers (issue 10, item 6). This test reads every
# margin__fail() format in lib/ and fails on an integer conversion that is not an id, a
# key, a count, an index or a scale, naming the file and line.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON3=${PYTHON3:-python3}
command -v "$PYTHON3" >/dev/null 2>&1 || { echo "SKIP: no python3"; exit 77; }
exec "$PYTHON3" - "$top_srcdir"/lib/*.c <<'PY'
import re, sys
# What an integer in a message may be: the word before or after it says so.
ALLOWED = [
    r"\b(id|key|option|field|filter|basis|index|position|account|mode|policy|level|scale|version|section|item|tiers?|type|asset)\s+%$",
    r"^(margin-call levels|tiers|events|bytes|positions|cross positions|sections)\b",
    r"\bscale must be at most\s+%$", r"levels, not\s+%$", r"\b(flags|tag) 0x%$",
    r"\bin\s+%$", r"\(%$",
    r"\b(scale must be 0 to 18, not|takes 0 or 1, not)\s+%$",
    r"^with the other scale\b",
]
conv = re.compile(r"%(?:ll|l|z|h)?[diux]")
bad = 0
checked = 0
for path in sys.argv[1:]:
    text = open(path).read()
    for m in re.finditer(r"margin__fail\(\s*\w+\s*,\s*[^,]+,\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+)", text):
        fmt = "".join(re.findall(r"\"((?:[^\"\\]|\\.)*)\"", m.group(1)))
        line = text.count("\n", 0, m.start()) + 1
        for c in conv.finditer(fmt):
            checked += 1
            before = fmt[:c.start()] + "%"
            after = fmt[c.end():].lstrip()
            ok = any(re.search(a, before) for a in ALLOWED if a.endswith("$")) or \
                 any(re.search(a, after) for a in ALLOWED if a.startswith("^"))
            if not ok:
                bad += 1
                print(f"{path}:{line}: raw integer in a message: \"{fmt}\"")
print(f"messages: {checked} integer conversions checked, {bad} raw")
if checked == 0:
    sys.exit(1)  # the pattern above no longer finds the formats
sys.exit(1 if bad else 0)
PY
