"""Typeset the equation line of every docstring as MathML in the API reference.

Each public primitive's docstring has, after its one-line summary, a paragraph of
math in plain Unicode (`δ = rₜ + γₜ maxₐ q(sₜ, a) − q(sₜ₋₁, aₜ₋₁)`, see
docs/conventions.md). That reads well in `help()` and in an editor; for the site,
`Equations` (a griffe extension loaded by mkdocstrings, see mkdocs.yml) replaces the
paragraph with a block of MathML, which browsers typeset natively (no JavaScript,
nothing fetched). `to_mathml` is the converter: Unicode sub/superscripts and `_x`,
`_{...}`, `^x`, `^{...}` become `msub`/`msup`, letters `mi`, digits `mn`, operators
`mo`, prose words (`if`, `else`, ...) and `code` spans upright text.
"""

from __future__ import annotations

import html
import itertools
import re

import griffe

SUBSCRIPTS = dict(
    zip(
        "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼᵣᵤᵥᵦᵧᵨᵩᵪ",
        "0123456789+−=()aeoxhklmnpstijruvβγρφχ",
        strict=True,
    )
)
SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵗ", "0123456789+−=()nit", strict=True))
# Words set as upright text with space around them rather than as identifiers.
PROSE = {
    "if", "else", "for", "as", "in", "with", "the", "of", "to", "and", "or", "on",
    "from", "at", "so", "is", "when", "then", "otherwise", "legal", "illegal",
    "bootstrapping", "before", "after", "all", "each", "every", "where", "by",
    "gap", "neighbour", "bounded", "floored", "exponent", "returns", "general",
    "off-policy", "n-step", "return", "λ-return", "two", "atoms", "bracketing",
}  # fmt: skip
_SUB = "".join(SUBSCRIPTS)
_SUP = "".join(SUPERSCRIPTS)
# A letter that is not a sub/superscript character (those are letters to `\w`).
_L = f"(?![{_SUB}{_SUP}])[^\\W\\d_]"
BIG_OPERATORS = {"Σ", "Π"}
TOKEN = re.compile(
    "|".join(
        [
            r"(?P<code>`[^`]+`)",
            r"(?P<space>\s{2,})",
            r"(?P<ws>\s)",
            r"(?P<num>\d+(?:\.\d+)?|½)",
            f"(?P<word>{_L}(?:{_L}|[\u0300-\u036f]|-(?={_L}))*'*)",
            f"(?P<sub>[{_SUB}]+)",
            f"(?P<sup>[{_SUP}]+)",
            r"(?P<script>[_^](?:\{[^{}]*\}|[^\W_]+[\u0300-\u036f]*'*|[*]))",
            r"(?P<op>.)",
        ]
    )
)


def _script_body(raw: str) -> str:
    """The MathML row of a sub/superscript written `{...}` or as one token."""
    inner = raw[1:-1] if raw.startswith("{") else raw
    return _row(inner)


def _attach(items: list[str], tag: str, body: str) -> None:
    base = items.pop() if items else "<mrow></mrow>"
    items.append(f"<{tag}>{base}<mrow>{body}</mrow></{tag}>")


def _element(kind: str, value: str) -> str:
    """The MathML element of one token that is not a script."""
    if kind == "code":
        return f'<mtext mathvariant="monospace">{html.escape(value.strip("`"))}</mtext>'
    if kind == "num":
        return f"<mn>{value}</mn>"
    if kind == "word" and value.lower() in PROSE:
        return f"<mtext>\u00a0{html.escape(value)}\u00a0</mtext>"
    if kind == "word" and value not in BIG_OPERATORS:
        return f"<mi>{html.escape(value)}</mi>"
    return f"<mo>{html.escape(value)}</mo>"


def _row(text: str) -> str:
    """Convert a Unicode math string to a sequence of MathML elements."""
    items: list[str] = []
    spaced = False  # whitespace since the last token
    for m in TOKEN.finditer(text):
        kind, value = m.lastgroup, m.group()
        if kind in ("space", "ws"):
            spaced = True
            if kind == "space":  # two spaces separate equations on one line
                items.append('<mspace width="1.5em"></mspace>')
            continue
        if kind in ("sub", "sup"):
            table = SUBSCRIPTS if kind == "sub" else SUPERSCRIPTS
            tag = "msub" if kind == "sub" else "msup"
            _attach(items, tag, _row("".join(table[c] for c in value)))
        elif kind == "script":
            tag = "msub" if value[0] == "_" else "msup"
            _attach(items, tag, _script_body(value[1:]))
        else:
            element = _element(kind, value)
            # a thin space between factors, none next to operators and prose
            bare = ("<mo>", "<mspace", "<mtext>")
            after_op = not items or items[-1].startswith(bare)
            if spaced and not after_op and not element.startswith(bare):
                items.append('<mspace width="0.25em"></mspace>')
            items.append(element)
        spaced = False
    return "".join(items)


def to_mathml(text: str) -> str:
    """Return a display-mode `<math>` element typesetting a Unicode equation line.

    Args:
      text: one equation paragraph of a docstring (newlines are spaces).

    Returns:
      The MathML markup; `alttext` keeps the original line.
    """
    flat = " ".join(text.split("\n"))
    alt = html.escape(" ".join(flat.split()), quote=True)
    return f'<math display="block" alttext="{alt}"><mrow>{_row(flat)}</mrow></math>'


_MATH = re.compile(r"[=←↦≈∈≤≥<>~]")
_BOUNDARY = re.compile(r"[.;:]\s|,\s+so\s")


def _segments(text: str) -> list[tuple[int, int]]:
    """(start, stop) of the clauses of `text`, split at ". ", "; ", ": ", ", so "
    outside brackets."""
    depth, cuts = 0, [0]
    for i, c in enumerate(text):
        depth += (c in "([{") - (c in ")]}")
        if depth == 0 and _BOUNDARY.match(text, i):
            cuts.append(i)
    cuts.append(len(text))
    return list(itertools.pairwise(cuts))


def split_equation(paragraph: str) -> tuple[str, str]:
    """Split a paragraph into its leading equation and the prose after it.

    The equation is the longest run of leading clauses written with a relation
    symbol (=, ←, ↦, ≤, ...); it is empty when the paragraph is a section header
    (`Args:`) or opens with prose.
    """
    if re.match(r"^\s*[A-Z][\w ()]*:", paragraph):
        return "", paragraph
    stop = 0
    for a, b in _segments(paragraph):
        if not _MATH.search(paragraph, a, b):
            break
        stop = b
    math = paragraph[:stop].strip().removesuffix(".")
    rest = paragraph[stop:].lstrip(".;:, \n")
    return math, rest[:1].upper() + rest[1:]


def typeset(docstring: str) -> str:
    """Replace a docstring's equation (in its second paragraph) with MathML."""
    paragraphs = docstring.split("\n\n")
    if len(paragraphs) < 2:
        return docstring
    math, rest = split_equation(paragraphs[1])
    if not math:
        return docstring
    block = f'<div class="equation" markdown="0">{to_mathml(math)}</div>'
    paragraphs[1:2] = [block, rest] if rest else [block]
    return "\n\n".join(paragraphs)


class Equations(griffe.Extension):
    """Griffe extension: typeset the equation paragraph of functions' docstrings."""

    def on_function_instance(self, *, func: griffe.Function, **kwargs) -> None:
        """Rewrite one function's docstring as it is loaded."""
        if func.docstring is not None:
            func.docstring.value = typeset(func.docstring.value)


class HideFieldAliases(griffe.Extension):
    """Griffe extension: drop NamedTuple field accessors ("Alias for field number
    0") from the reference; each class's `Attributes:` table documents its fields."""

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs) -> None:
        """Forget the docstring of a field accessor, so it is not listed."""
        doc = attr.docstring
        if doc is not None and doc.value.startswith("Alias for field number"):
            attr.docstring = None
