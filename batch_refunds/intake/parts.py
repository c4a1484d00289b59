"""Which zip member of an ``.xlsx``/``.xlsm`` holds a sheet, found as the Excel reader finds it."""

from __future__ import annotations

import posixpath
import zipfile
from xml.etree import ElementTree

from batch_refunds.errors import InputFileError

_OFFICE_DOCUMENT = "/officeDocument"


def sheet_part(book: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding ``sheet``'s XML; ``None`` when the zip is no ``.xlsx``/``.xlsm``.

    Names are compared as the reader compares them, ignoring case, and both the usual way of
    resolving the workbook's relationships and the reader's own are followed: when they
    lead to different parts, the workbook is refused, so the part checked is the part read.
    """
    members = _members(book)
    rels = _find(members, "_rels/.rels")
    target = "xl/workbook.xml"
    if rels is not None:
        for rel in ElementTree.fromstring(book.read(rels)):
            if rel.get("Type", "").endswith(_OFFICE_DOCUMENT):
                target = rel.get("Target", target)
    target = target.lstrip("/")
    folder = posixpath.split(target)[0]
    prefix = f"{folder}/" if folder else ""
    # (workbook part, its relationships part): as written, and as the reader builds them.
    books = {
        (target, posixpath.join(folder, "_rels", posixpath.basename(target) + ".rels")),
        (f"{prefix}workbook.xml", f"{prefix}_rels/workbook.xml.rels"),
    }
    found: list[str] = []
    xml_book = False
    for workbook, rels_part in sorted(books):
        name = _find(members, workbook)
        rels_name = _find(members, rels_part)
        if name is None or not name.lower().endswith(".xml") or rels_name is None:
            continue
        xml_book = True
        targets = {
            rel.get("Id"): rel.get("Target", "")
            for rel in ElementTree.fromstring(book.read(rels_name))
        }
        for element in ElementTree.fromstring(book.read(name)).iter():
            if element.tag.rsplit("}", 1)[-1] != "sheet" or element.get("name") != sheet:
                continue
            rel_id = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
            part = targets.get(rel_id, "")
            if not part:
                continue
            for candidate in _paths(prefix, part):
                member = _find(members, candidate)
                if member is not None and member not in found:
                    found.append(member)
    if not xml_book:
        return None  # .ods, .xlsb (binary parts) and other zip-based formats
    if not found:
        raise ValueError(f'no part for the sheet "{sheet}"')
    if len(found) > 1:
        listed = " and ".join(f'"{name}"' for name in found)
        raise InputFileError(
            f'The sheet "{sheet}" may be read from {listed}; Excel never writes a workbook '
            "like that. Open the file in Excel and save it again.",
            code="input.unreadable",
        )
    return found[0]


def _members(book: zipfile.ZipFile) -> dict[str, str]:
    """Lower-cased member name → member name. Two names that differ only in case are
    refused: the reader would pick one of them, not necessarily the one checked."""
    members: dict[str, str] = {}
    for name in book.namelist():
        key = name.lower()
        if key in members:
            raise InputFileError(
                f'The workbook holds two parts named "{members[key]}" and "{name}"; Excel '
                "never writes that. Open the file in Excel and save it again.",
                code="input.unreadable",
            )
        members[key] = name
    return members


def _find(members: dict[str, str], name: str) -> str | None:
    return members.get(name.lower())


def _paths(prefix: str, target: str) -> list[str]:
    if target.startswith("/"):
        return [target.lstrip("/")]
    return [prefix + target, posixpath.normpath(prefix + target)]
