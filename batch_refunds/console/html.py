"""Server-side HTML with escaping by default: a value is text unless it is ``Markup``.

Every page is assembled from ``render`` templates (``string.Template`` placeholders), so a
cell of a spreadsheet such as ``<script>`` is always shown as text; only markup built here
(``Markup``, ``tag``) goes in unescaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from string import Template

VOID = frozenset({"input", "br", "meta", "link", "img", "hr"})


class Markup(str):
    """Text that is already HTML (built from escaped parts): inserted as it is."""


def escape(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def render(template: str, **values: object) -> Markup:
    """``template`` with each ``$name`` replaced by its value, escaped unless ``Markup``."""
    return Markup(Template(template).substitute({k: escape(v) for k, v in values.items()}))


def join(parts: Iterable[object]) -> Markup:
    return Markup("".join(escape(p) for p in parts))


def tag(element: str, /, *children: object, **attrs: object) -> Markup:
    """``<element attrs>children</element>``; ``class_`` is ``class``; a ``True`` attr is bare."""
    shown = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        shown.append(f" {key}" if value is True else f' {key}="{escape(value)}"')
    if element in VOID:
        return Markup(f"<{element}{''.join(shown)}>")
    return Markup(f"<{element}{''.join(shown)}>{join(children)}</{element}>")
