"""A small YAML reader for the cloud-config subset (stdlib only): block mappings and
sequences (a sequence may sit at its key's indentation), flow sequences and mappings
(`[a, b]`, `{a: b}`, also over several lines), block scalars (`|`, `|-`, `|+`, `>`),
single- and double-quoted strings, comments, and YAML 1.1 plain scalars as PyYAML (which
cloud-init uses) reads them (`yes`/`no`/`on`/`off` are booleans). Anchors, aliases, tags,
complex keys and several documents raise `YamlError`: the simulated cloud-init reports
that as its error instead of crashing.
"""

import re


class YamlError(Exception):
    pass


BOOL_TRUE = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}
BOOL_FALSE = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"}


def loads(text):
    p = _Parser(text)
    v = p.block(0)
    p.skip()
    if p.i < len(p.lines):
        raise YamlError(f"line {p.i + 1}: unexpected content: {p.lines[p.i][1].strip()}")
    return v


def strip_comment(s):
    """Drops a ` #…` comment outside quotes."""
    q = None
    for i, c in enumerate(s):
        if q:
            if c == q:
                q = None
        elif c in "'\"" and (i == 0 or s[i - 1] in " [{,:"):
            q = c
        elif c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
    return s.rstrip()


def split_key(s):
    """`key: value` → (key, value) when s is a mapping entry, else None."""
    if s.startswith(("'", '"')):
        q = s[0]
        j = s.find(q, 1)
        while q == "'" and j != -1 and s[j + 1:j + 2] == "'":
            j = s.find(q, j + 2)
        if j == -1:
            return None
        rest = s[j + 1:]
        if rest == ":" or rest.startswith(": "):
            return scalar(s[:j + 1]), rest[1:].strip()
        return None
    m = re.match(r"^([^\s#\[\]{},&*!|>'\"%@`-][^#]*?|-[^\s][^#]*?)\s*:(?:\s+|$)(.*)$", s)
    if not m or m.group(1).startswith("? "):
        return None
    return m.group(1), m.group(2)


def scalar(s):
    s = s.strip()
    if s.startswith('"'):
        if not s.endswith('"') or len(s) < 2:
            raise YamlError(f"unterminated double-quoted string: {s}")
        body = s[1:-1]
        esc = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "r": "\r", "0": "\0",
               " ": " ", "e": "\x1b"}
        res, i = "", 0
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body):
                n = body[i + 1]
                if n == "x":
                    res += chr(int(body[i + 2:i + 4], 16))
                    i += 4
                    continue
                if n == "u":
                    res += chr(int(body[i + 2:i + 6], 16))
                    i += 6
                    continue
                res += esc.get(n, "\\" + n)
                i += 2
                continue
            res += c
            i += 1
        return res
    if s.startswith("'"):
        if not s.endswith("'") or len(s) < 2:
            raise YamlError(f"unterminated single-quoted string: {s}")
        return s[1:-1].replace("''", "'")
    if s[:1] in ("&", "*", "!") or s.startswith(("? ", "%", "@", "`")):
        raise YamlError(f"unsupported YAML construct: {s}")
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in BOOL_TRUE:
        return True
    if s in BOOL_FALSE:
        return False
    if re.fullmatch(r"[-+]?(0|[1-9][0-9_]*)", s):
        return int(s.replace("_", ""))
    if re.fullmatch(r"0o?[0-7]+", s):
        return int(s.replace("o", ""), 8)
    if re.fullmatch(r"0x[0-9a-fA-F]+", s):
        return int(s, 16)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?", s):
        return float(s)
    return s


def flow(s):
    """A flow collection or scalar (the whole string)."""
    v, i = _flow_value(s, 0)
    if s[i:].strip():
        raise YamlError(f"unexpected text after a flow value: {s[i:].strip()}")
    return v


def _flow_value(s, i):
    while i < len(s) and s[i] in " \t":
        i += 1
    if i < len(s) and s[i] == "[":
        res = []
        i += 1
        while True:
            while i < len(s) and s[i] in " \t\n":
                i += 1
            if i >= len(s):
                raise YamlError("unterminated flow sequence")
            if s[i] == "]":
                return res, i + 1
            v, i = _flow_value(s, i)
            res.append(v)
            while i < len(s) and s[i] in " \t\n":
                i += 1
            if i < len(s) and s[i] == ",":
                i += 1
    if i < len(s) and s[i] == "{":
        res = {}
        i += 1
        while True:
            while i < len(s) and s[i] in " \t\n,":
                i += 1
            if i >= len(s):
                raise YamlError("unterminated flow mapping")
            if s[i] == "}":
                return res, i + 1
            k, i = _flow_scalar(s, i, ":,}")
            if i < len(s) and s[i] == ":":
                v, i = _flow_value(s, i + 1)
            else:
                v = None
            res[k] = v
    return _flow_scalar(s, i, ",]}")


def _flow_scalar(s, i, stops):
    while i < len(s) and s[i] in " \t\n":
        i += 1
    if i < len(s) and s[i] in "'\"":
        q = s[i]
        j = i + 1
        while j < len(s):
            if s[j] == "\\" and q == '"':
                j += 2
                continue
            if s[j] == q:
                if q == "'" and s[j + 1:j + 2] == "'":
                    j += 2
                    continue
                break
            j += 1
        return scalar(s[i:j + 1]), j + 1
    j = i
    while j < len(s) and s[j] not in stops and not (s[j] == ":" and ":" in stops and
                                                      s[j + 1:j + 2] in (" ", "", "\n")):
        j += 1
    if ":" not in stops:
        pass
    return scalar(s[i:j]), j


class _Parser:
    def __init__(self, text):
        raw = text.replace("\r\n", "\n").split("\n")
        self.raw = raw
        self.lines = []  # (indent, text, raw index)
        for n, line in enumerate(raw):
            if "\t" in line[:len(line) - len(line.lstrip())]:
                raise YamlError(f"line {n + 1}: a tab in the indentation")
            self.lines.append([len(line) - len(line.lstrip(" ")), line.strip(), n])
        self.i = 0
        docs = [ln for ln in self.lines if ln[1] == "---" and ln[0] == 0]
        if len(docs) > 1:
            raise YamlError("several YAML documents")

    def skip(self):
        while self.i < len(self.lines):
            t = self.lines[self.i][1]
            if t == "" or t.startswith("#") or (t == "---" and self.lines[self.i][0] == 0):
                self.i += 1
                continue
            break

    def peek(self):
        self.skip()
        return self.lines[self.i] if self.i < len(self.lines) else None

    def block(self, indent):
        ln = self.peek()
        if ln is None or ln[0] < indent:
            return None
        if ln[1] == "-" or ln[1].startswith("- "):
            return self.seq(ln[0])
        return self.mapping(ln[0])

    def value(self, rest, indent, seq_ok_at=None):
        """The value after `key:` or `- ` (rest of the line) at an entry of `indent`."""
        rest = strip_comment(rest)
        if rest == "":
            ln = self.peek()
            if ln is None:
                return None
            if ln[0] > indent:
                return self.block(ln[0])
            if seq_ok_at is not None and ln[0] == seq_ok_at and \
                    (ln[1] == "-" or ln[1].startswith("- ")):
                return self.seq(ln[0])
            return None
        if rest[0] in "|>":
            return self.block_scalar(rest, indent)
        if rest[0] in "[{":
            text = rest
            while _unbalanced(text):
                if self.i >= len(self.lines):
                    raise YamlError("unterminated flow collection")
                text += " " + strip_comment(self.lines[self.i][1])
                self.i += 1
            return flow(text)
        return scalar(rest)

    def block_scalar(self, head, indent):
        m = re.fullmatch(r"([|>])([-+]?)(\d?)([-+]?)", head)
        if not m:
            raise YamlError(f"unsupported block scalar header: {head}")
        folded, chomp = m.group(1) == ">", m.group(2) or m.group(4)
        body = []
        block_indent = None
        while self.i < len(self.lines):
            ind, text, n = self.lines[self.i]
            if text == "":
                body.append("")
                self.i += 1
                continue
            if block_indent is None:
                if ind <= indent:
                    break
                block_indent = ind
            if ind < block_indent:
                break
            body.append(self.raw[n][block_indent:])
            self.i += 1
        while body and body[-1] == "" and chomp != "+":
            body.pop()
        if folded:
            s, prev_blank = "", True
            for line in body:
                if line == "":
                    s += "\n"
                    prev_blank = True
                else:
                    s += ("" if prev_blank or line.startswith(" ") else " ") + line
                    prev_blank = False
            text = s
        else:
            text = "\n".join(body)
        if chomp == "-":
            return text
        return text + "\n" if body else ""

    def mapping(self, indent):
        res = {}
        while True:
            ln = self.peek()
            if ln is None or ln[0] < indent:
                return res
            if ln[0] > indent:
                raise YamlError(f"line {ln[2] + 1}: bad indentation: {ln[1]}")
            if ln[1] == "-" or ln[1].startswith("- "):
                return res
            kv = split_key(strip_comment(ln[1]) if not ln[1].startswith(("'", '"')) else ln[1])
            if kv is None:
                raise YamlError(f"line {ln[2] + 1}: expected 'key: value', got: {ln[1]}")
            k, rest = kv
            if isinstance(k, str) and k[:1] in ("&", "*", "!", "?"):
                raise YamlError(f"line {ln[2] + 1}: unsupported YAML construct: {k}")
            self.i += 1
            res[k] = self.value(rest, indent, seq_ok_at=indent)

    def seq(self, indent):
        res = []
        while True:
            ln = self.peek()
            if ln is None or ln[0] < indent:
                return res
            if not (ln[1] == "-" or ln[1].startswith("- ")) or ln[0] != indent:
                if ln[0] > indent:
                    raise YamlError(f"line {ln[2] + 1}: bad indentation: {ln[1]}")
                return res
            rest = ln[1][1:].lstrip(" ")
            inner = ln[0] + (len(ln[1]) - len(rest))
            if rest and (rest.startswith("- ") or rest == "-" or
                         (rest[0] not in "[{'\"|>" and split_key(strip_comment(rest)))
                         or (rest[0] in "'\"" and split_key(rest))):
                # `- key: v` / `- - x`: the item is a block starting on this line
                ln[0], ln[1] = inner, rest
                res.append(self.block(inner))
                continue
            self.i += 1
            res.append(self.value(rest, indent))


def _unbalanced(text):
    depth, q = 0, None
    for c in text:
        if q:
            if c == q:
                q = None
        elif c in "'\"":
            q = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
    return depth > 0
