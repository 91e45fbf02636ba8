"""Reading an export's index.html as a person and a browser would: its text, its
links and anchors, and whether every element is closed where it was opened."""

from __future__ import annotations

import re
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}


@dataclass
class Page:
    text: str = ""
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)  # src= and <link href=>, fetched by a browser

    def files(self, archive: zipfile.ZipFile) -> list[str]:
        """The links to files, as paths inside the archive; AssertionError for one that is not there."""
        members = set(archive.namelist())
        paths = [
            urllib.parse.unquote(link)
            for link in self.links
            if not link.startswith(("#", "mailto:"))
        ]
        missing = [path for path in paths if path not in members]
        assert not missing, f"links to files that are not in the archive: {missing}"
        return paths


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.open: list[str] = []
        self.words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.add(tag)
        values = dict(attrs)
        if values.get("id"):
            assert values["id"] not in self.page.ids, f"id {values['id']!r} used twice"
            self.page.ids.add(str(values["id"]))
        if tag == "a" and values.get("href"):
            self.page.links.append(str(values["href"]))
        if values.get("src") or (tag == "link" and values.get("href")):
            self.page.sources.append(str(values.get("src") or values.get("href")))
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:] or 'nothing'}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.words.append(data)


def read_page(markup: str) -> Page:
    assert markup.lower().startswith("<!doctype html>")
    reader = _Reader()
    reader.feed(markup)
    reader.close()
    assert reader.open == [], f"never closed: {reader.open}"
    # Text as it reads: elements' texts run together with single spaces.
    reader.page.text = re.sub(r"\s+", " ", " ".join(reader.words))
    return reader.page
