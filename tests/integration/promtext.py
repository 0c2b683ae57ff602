"""A strict reader of Prometheus' text exposition format (version 0.0.4).

What node_exporter's textfile collector and `promtool check metrics` need
of a file, checked line by line, so the tests hold the daemon's metrics to
it even where promtool is not installed:

- every line is "# HELP name text", "# TYPE name type", another "#"
  comment, a blank line, or a sample: name, optional {labels}, a value,
  an optional integer timestamp; the file ends with a newline;
- names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
  (not starting with "__"), label values are double-quoted with only \\\\,
  \\" and \\n escapes; values are Go floats (NaN, +Inf, -Inf included);
- TYPE is one of counter, gauge, histogram, summary, untyped, given at most
  once per family and before its samples; HELP at most once;
- a family's samples are together (not interleaved with another's), and no
  series (name and label set) repeats;
- counters end in _total and are >= 0; a histogram has, per label set,
  _bucket samples with an "le" label, non-decreasing in le order, one of
  le="+Inf", equal to _count, and a _sum.

parse(text) returns {family: {"type", "help", "samples": [(name, labels
dict, value)]}} or raises ValueError naming the line.
"""

import math
import re

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"
                    r"|Inf|inf|NaN|nan)")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _family(name, types):
    """The family a sample name belongs to (histogram/summary suffixes)."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram",
                                                          "summary"):
            return base
    return name


def _labels(s, i, lineno):
    """Parse {a="b",...} at s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i:i + 1] == "}":
            return labels, i + 1
        m = _LABEL.match(s, i)
        if not m:
            raise ValueError("line %d: bad label name at %r" % (lineno, s[i:]))
        name = m.group(0)
        if name.startswith("__"):
            raise ValueError("line %d: reserved label %s" % (lineno, name))
        if name in labels:
            raise ValueError("line %d: label %s twice" % (lineno, name))
        i = m.end()
        if s[i:i + 2] != '="':
            raise ValueError("line %d: expected =\" after %s" % (lineno, name))
        i += 2
        value = []
        while True:
            if i >= len(s):
                raise ValueError("line %d: unterminated label value" % lineno)
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ValueError("line %d: bad escape \\%s"
                                     % (lineno, nxt))
                value.append("\n" if nxt == "n" else nxt)
                i += 2
                continue
            if c == '"':
                i += 1
                break
            if c == "\n":
                raise ValueError("line %d: newline in a label value" % lineno)
            value.append(c)
            i += 1
        labels[name] = "".join(value)
        if s[i:i + 1] == ",":
            i += 1
        elif s[i:i + 1] != "}":
            raise ValueError("line %d: expected , or } at %r" % (lineno, s[i:]))


def _value(tok, lineno):
    if not _FLOAT.fullmatch(tok):
        raise ValueError("line %d: bad value %r" % (lineno, tok))
    return float(tok.replace("Inf", "inf").replace("NaN", "nan"))


def parse(text):
    if text and not text.endswith("\n"):
        raise ValueError("the text does not end with a newline")
    types, helps, families = {}, {}, {}
    seen_series = set()
    done = set()      # families whose samples are over
    current = None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not _NAME.fullmatch(name):
                    raise ValueError("line %d: bad name %r" % (lineno, name))
                if parts[1] == "TYPE":
                    t = parts[3] if len(parts) > 3 else ""
                    if t not in TYPES:
                        raise ValueError("line %d: bad type %r"
                                         % (lineno, t))
                    if name in types:
                        raise ValueError("line %d: second TYPE for %s"
                                         % (lineno, name))
                    if name in families:
                        raise ValueError("line %d: TYPE %s after its samples"
                                         % (lineno, name))
                    types[name] = t
                else:
                    if name in helps:
                        raise ValueError("line %d: second HELP for %s"
                                         % (lineno, name))
                    helps[name] = parts[3] if len(parts) > 3 else ""
            continue
        m = _NAME.match(line)
        if not m:
            raise ValueError("line %d: bad sample %r" % (lineno, line))
        name = m.group(0)
        i = m.end()
        labels = {}
        if line[i:i + 1] == "{":
            labels, i = _labels(line, i, lineno)
        rest = line[i:]
        if not rest.startswith(" "):
            raise ValueError("line %d: no value after %r" % (lineno, name))
        toks = rest.split()
        if len(toks) not in (1, 2):
            raise ValueError("line %d: bad value part %r" % (lineno, rest))
        value = _value(toks[0], lineno)
        if len(toks) == 2 and not re.fullmatch(r"-?\d+", toks[1]):
            raise ValueError("line %d: bad timestamp %r" % (lineno, toks[1]))
        fam = _family(name, types)
        if fam != current:
            if fam in done:
                raise ValueError("line %d: samples of %s are not together"
                                 % (lineno, fam))
            if current is not None:
                done.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise ValueError("line %d: series repeated: %r" % (lineno, key))
        seen_series.add(key)
        families.setdefault(fam, []).append((name, labels, value))
    out = {}
    for fam, samples in families.items():
        t = types.get(fam, "untyped")
        if t == "counter":
            if not fam.endswith("_total"):
                raise ValueError("counter %s does not end in _total" % fam)
            for _, _, v in samples:
                if v < 0 or math.isnan(v):
                    raise ValueError("counter %s is %r" % (fam, v))
        if t == "histogram":
            _check_histogram(fam, samples)
        out[fam] = {"type": t, "help": helps.get(fam), "samples": samples}
    for name in types:
        if name not in out:
            out[name] = {"type": types[name], "help": helps.get(name),
                         "samples": []}
    return out


def _check_histogram(fam, samples):
    groups = {}
    for name, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None,
                                     "count": None})
        if name == fam + "_bucket":
            if "le" not in labels:
                raise ValueError("%s bucket without le" % fam)
            g["buckets"].append((_value(labels["le"], 0), v))
        elif name == fam + "_sum":
            g["sum"] = v
        elif name == fam + "_count":
            g["count"] = v
        else:
            raise ValueError("%s: stray sample %s" % (fam, name))
    for rest, g in groups.items():
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise ValueError("%s%r: no le=\"+Inf\" bucket last" % (fam, rest))
        if [x[0] for x in b] != sorted(x[0] for x in b):
            raise ValueError("%s%r: buckets out of order" % (fam, rest))
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise ValueError("%s%r: buckets not cumulative" % (fam, rest))
        if g["count"] is None or g["sum"] is None:
            raise ValueError("%s%r: no _count or _sum" % (fam, rest))
        if g["count"] != b[-1][1]:
            raise ValueError("%s%r: _count != +Inf bucket" % (fam, rest))


def value(fams, name, **labels):
    """The value of the one sample of name with these labels (None: none)."""
    fam = _family(name, {f: d["type"] for f, d in fams.items()})
    for n, l, v in fams.get(fam, {"samples": []})["samples"]:
        if n == name and all(l.get(k) == x for k, x in labels.items()):
            return v
    return None
