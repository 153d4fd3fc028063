#!/usr/bin/env python3
"""Fails when a module imports a layer above it, or a peer beside it.

    scripts/check-layers.py [--root DIR]   check DIR (default: the repository)
    scripts/check-layers.py --self-test    check a built-in fixture and expect its violations

The allowed directions are written once, in README.md's "Design notes", between
<!-- layers:begin --> and <!-- layers:end -->, as a fenced block: one layer per line, top to
bottom, `#` starts a comment. A module may use any module on a lower line. Modules on one line
separated by `|` are peers and may not use each other; separated by `,` they may.

Every src/**/*.rs file belongs to its top-level module (src/x.rs and src/x/...). src/lib.rs and
src/main.rs (the crate root and the binary) are exempt. A use is any `crate::<m>` path, in a
`use` item (grouped `use crate::{a::X, b::Y}` too) or inline, and any `super::` path that climbs
out of the top-level module; comments, doc comments and string literals are skipped. Unit tests
(`#[cfg(test)]`) are checked like the rest: a test inside a module obeys that module's layer,
otherwise a test can hide a dependency the layering forbids. `crate::X` for a name that
src/lib.rs re-exports counts as a use of the module it comes from.

Output: `file:line: <module> (layer N) imports <target> (layer M, above|peer)`, layers numbered
from 1 at the top; exit 1 on any violation, 2 when the block cannot be read.
"""

import bisect
import os
import re
import sys
import tempfile

BEGIN, END = "<!-- layers:begin -->", "<!-- layers:end -->"


class BlockError(Exception):
    pass


def parse_block(readme_text):
    """Returns ({module: (layer number, peers?)}, [errors])."""
    try:
        start = readme_text.index(BEGIN) + len(BEGIN)
        end = readme_text.index(END, start)
    except ValueError:
        raise BlockError(f"README.md: no {BEGIN} ... {END} block") from None
    block = readme_text[start:end]
    fence = re.search(r"```[^\n]*\n(.*?)```", block, re.S)
    if not fence:
        raise BlockError("README.md: the layers block has no fenced code block")
    layers = {}
    number = 0
    for raw in fence.group(1).splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        number += 1
        if "|" in line and "," in line:
            raise BlockError(f"README.md: layer {line!r} mixes '|' (peers) and ',' (a group)")
        peers = "|" in line
        for name in re.split(r"[|,]", line):
            name = name.strip()
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                raise BlockError(f"README.md: {name!r} in layer {line!r} is not a module name")
            if name in layers:
                raise BlockError(f"README.md: module {name} is placed twice")
            layers[name] = (number, peers)
    if not layers:
        raise BlockError("README.md: the layers block is empty")
    return layers


def strip_code(text):
    """Blanks comments and the inside of string/char literals, keeping offsets and newlines."""
    out = list(text)
    n = len(text)
    i = 0

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "rb" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")) and (
            m := re.match(r"(?:br|r)(#*)\"", text[i:])
        ):
            close = '"' + m.group(1)
            j = text.find(close, i + m.end())
            j = n if j < 0 else j + len(close)
            blank(i + m.end(), j - len(close))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, min(j, n))
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime/label ('a, 'outer:).
            if nxt == "\\":
                j = text.find("'", i + 3)
                j = n if j < 0 else j
                blank(i + 1, j)
                i = j + 1
            elif i + 2 < n and text[i + 2] == "'":
                blank(i + 1, i + 2)
                i += 3
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
TOKENS = re.compile(
    rf"\bmod\s+{IDENT}\s*\{{"
    r"|[{}]"
    r"|(?<![\w$:])\$?crate\s*::\s*"
    r"|(?<![\w$:])super\b(?:\s*::\s*super\b)*\s*::\s*"
)


def group_heads(text, pos):
    """(offset, first segment) of each item in the `{...}` group at text[pos]."""
    depth, item_start, heads = 0, pos + 1, []
    for k in range(pos, len(text)):
        ch = text[k]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                heads.append(item_start)
                break
        elif ch == "," and depth == 1:
            heads.append(item_start)
            item_start = k + 1
    found = []
    for start in heads:
        m = re.compile(rf"\s*({IDENT})").match(text, start)
        if m and m.group(1) != "self":
            found.append((m.start(1), m.group(1)))
    return found


def path_heads(text, pos):
    """(offset, name) of the top-level names a path continuing at text[pos] refers to."""
    if pos < len(text) and text[pos] == "{":
        return group_heads(text, pos)
    m = re.compile(IDENT).match(text, pos)
    return [(m.start(), m.group(0))] if m and m.group(0) != "self" else []


def uses(text, file_depth):
    """Yields (offset, top-level name) for every path that names something at the crate root.

    file_depth: how deep the file's own module sits below the root (src/x.rs and src/x/mod.rs: 1,
    src/x/y.rs: 2), so `super::` chains that climb out of it are recognised; inline `mod m {`
    blocks add a level for the code inside them.
    """
    depth = 0
    inline = []  # brace depths at which an inline module was opened
    for m in TOKENS.finditer(text):
        tok = m.group(0)
        if tok.startswith("mod"):
            depth += 1
            inline.append(depth)
        elif tok == "{":
            depth += 1
        elif tok == "}":
            if inline and inline[-1] == depth:
                inline.pop()
            depth -= 1
        elif "crate" in tok:
            yield from path_heads(text, m.end())
        elif file_depth + len(inline) - tok.count("super") == 0:
            yield from path_heads(text, m.end())


def root_reexports(lib_text, modules):
    """{name: module} for `pub use module::...` items in src/lib.rs."""
    found = {}
    for m in re.finditer(rf"\bpub\s+use\s+(?:crate\s*::\s*)?({IDENT})\s*::\s*([^;]*);", lib_text):
        module, rest = m.group(1), m.group(2)
        if module not in modules:
            continue
        for item in re.split(r"[{},]", rest):
            item = item.strip()
            if not item or item == "*":
                continue
            alias = re.search(rf"\bas\s+({IDENT})$", item)
            name = alias.group(1) if alias else re.split(r"\s*::\s*", item)[-1]
            found[name] = module
    return found


def source_files(src):
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(".rs"):
                yield os.path.join(dirpath, f)


def check(root):
    """Returns the list of problems, each one line."""
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        layers = parse_block(f.read())
    src = os.path.join(root, "src")
    problems = []
    files = []
    for path in source_files(src):
        rel = os.path.relpath(path, src).replace(os.sep, "/")
        if rel in ("lib.rs", "main.rs"):
            continue
        parts = rel.split("/")
        top = parts[0][:-3] if len(parts) == 1 else parts[0]
        # src/x.rs and src/x/mod.rs are module x (depth 1), src/x/y.rs is x::y (depth 2).
        depth = len(parts) - 1 if parts[-1] == "mod.rs" else len(parts)
        files.append((path, top, depth))
    modules = sorted({top for _, top, _ in files})
    for top in modules:
        if top not in layers:
            problems.append(
                f"src/{top}: module {top} is not placed in README.md's layers block (add it to a layer)"
            )
    for name in layers:
        if name not in modules:
            problems.append(f"README.md: layers block lists {name}, which is not a module in src/")
    lib_path = os.path.join(src, "lib.rs")
    reexports = {}
    if os.path.exists(lib_path):
        with open(lib_path, encoding="utf-8") as f:
            reexports = root_reexports(strip_code(f.read()), set(modules))
    for path, top, depth in files:
        with open(path, encoding="utf-8") as f:
            text = strip_code(f.read())
        starts = [0] + [k + 1 for k, ch in enumerate(text) if ch == "\n"]
        display = os.path.relpath(path, root).replace(os.sep, "/")
        seen = set()
        for offset, name in uses(text, depth):
            target = name if name in modules or name in layers else reexports.get(name)
            line = bisect.bisect_right(starts, offset)
            if target is None:
                problems.append(
                    f"{display}:{line}: {top} uses crate::{name}, which is neither a module nor "
                    "re-exported by src/lib.rs"
                )
                continue
            if target == top or top not in layers or target not in layers:
                continue
            (mine, _), (theirs, peers) = layers[top], layers[target]
            if theirs > mine or (theirs == mine and not peers):
                continue
            key = (line, target)
            if key in seen:
                continue
            seen.add(key)
            why = "above" if theirs < mine else "peer"
            problems.append(f"{display}:{line}: {top} (layer {mine}) imports {target} (layer {theirs}, {why})")
    return problems


FIXTURE = {
    "README.md": """# x
## Design notes
<!-- layers:begin -->
```text
top      # the wire
a | b    # peers
leaf1, leaf2, ghost
```
<!-- layers:end -->
""",
    "src/lib.rs": "pub mod top; pub mod a; pub mod b; pub mod leaf1; pub mod leaf2; pub mod stray;\n"
    "pub use a::{Thing, other::Deep as Alias};\n",
    "src/top.rs": "use crate::{a::Thing, leaf1::X};\n",
    "src/a/mod.rs": "pub mod inner;\npub struct Thing;\nuse super::b::Y; // peer via super\n",
    "src/a/inner.rs": (
        "//! Docs mention crate::top::Server, which is fine.\n"
        "use super::super::top::Z;\n"
        "use super::Thing;\n"
        "fn f() { let s = \"crate::top::in_a_string\"; let c = '{'; let _ = crate::leaf2::W; }\n"
        "/* crate::top::in /* nested */ comment */\n"
        "#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::super::b::T;\n}\n"
    ),
    "src/b.rs": (
        "fn g<'a>(x: &'a str) -> char { 'x' }\n"
        "use crate::{\n    leaf1::{P, Q},\n    Alias,\n};\n"
        "pub(crate) fn h() { crate::top::serve(); }\n"
    ),
    "src/leaf1.rs": "use crate::leaf2::K;\nuse crate::Thing;\nuse crate::nowhere::N;\n",
    "src/leaf2.rs": "#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::leaf1::P;\n}\n",
    "src/stray.rs": "",
}

FIXTURE_EXPECTED = [
    "README.md: layers block lists ghost, which is not a module in src/",
    "src/stray: module stray is not placed in README.md's layers block (add it to a layer)",
    "src/a/inner.rs:2: a (layer 2) imports top (layer 1, above)",
    "src/a/inner.rs:9: a (layer 2) imports b (layer 2, peer)",
    "src/a/mod.rs:3: a (layer 2) imports b (layer 2, peer)",
    "src/b.rs:4: b (layer 2) imports a (layer 2, peer)",
    "src/b.rs:6: b (layer 2) imports top (layer 1, above)",
    "src/leaf1.rs:2: leaf1 (layer 3) imports a (layer 2, above)",
    "src/leaf1.rs:3: leaf1 uses crate::nowhere, which is neither a module nor re-exported by src/lib.rs",
]


def self_test():
    with tempfile.TemporaryDirectory() as root:
        for rel, text in FIXTURE.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        got = check(root)
        broken_readme = os.path.join(root, "README.md")
        with open(broken_readme, "w", encoding="utf-8") as f:
            f.write("no block here\n")
        try:
            check(root)
            block_error = None
        except BlockError as e:
            block_error = str(e)
    ok = sorted(got) == sorted(FIXTURE_EXPECTED) and block_error is not None
    if not ok:
        print("check-layers self-test FAILED", file=sys.stderr)
        for line in sorted(set(got) - set(FIXTURE_EXPECTED)):
            print(f"  unexpected: {line}", file=sys.stderr)
        for line in sorted(set(FIXTURE_EXPECTED) - set(got)):
            print(f"  missing:    {line}", file=sys.stderr)
        if block_error is None:
            print("  a README without the block was accepted", file=sys.stderr)
        return 1
    print(f"check-layers self-test ok: the fixture fails with the {len(got)} expected problems")
    for line in got:
        print(f"  {line}")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if len(argv) == 3 and argv[1] == "--root":
        root = argv[2]
    elif len(argv) != 1:
        print(__doc__.split("\n\n")[0].strip(), file=sys.stderr)
        return 2
    try:
        problems = check(os.path.normpath(root))
    except BlockError as e:
        print(f"check-layers: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    if problems:
        print(f"check-layers: {len(problems)} problem(s); the layers are in README.md's Design notes")
        return 1
    print("check-layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
