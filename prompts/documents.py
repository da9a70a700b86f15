"""Read a policy document (PDF, HTML, DOCX, Markdown or text) as the run's principles."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langchain_core.document_loaders import BaseLoader

TEXT_SUFFIXES = ("", ".md", ".markdown", ".txt", ".yaml", ".yml")
DOCUMENT_SUFFIXES = (".pdf", ".html", ".htm", ".docx")
SUPPORTED = "PDF, HTML, DOCX, Markdown or text (.pdf .html .htm .docx .md .markdown .txt .yaml)"


def read_principles(path: Path) -> str:
    """Return the text of a principles document, chosen by its suffix.

    Raises ``ValueError`` with one line naming the file when it is missing, of an unsupported
    kind, unreadable, or holds no text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES + DOCUMENT_SUFFIXES:
        raise ValueError(f"{path}: unsupported principles format {suffix!r}; use {SUPPORTED}")
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    if suffix in TEXT_SUFFIXES:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not UTF-8 text") from None
    else:
        text = _load_document(path, suffix)
    text = normalise_whitespace(text)
    if not text:
        if suffix == ".pdf":
            raise ValueError(f"{path} has no extractable text; is it a scanned image?")
        raise ValueError(f"{path} is empty")
    return text


def _load_document(path: Path, suffix: str) -> str:
    """Extract the text of a PDF, HTML or DOCX file with a langchain-community loader."""
    from langchain_community.document_loaders import BSHTMLLoader, Docx2txtLoader, PyPDFLoader

    loader: BaseLoader
    if suffix == ".pdf":
        loader, kind = PyPDFLoader(str(path)), "PDF"
    elif suffix == ".docx":
        loader, kind = Docx2txtLoader(str(path)), "DOCX"
    else:
        # The standard library's parser (the loader's default needs lxml); a newline between
        # elements keeps headings and list items on their own lines.
        loader = BSHTMLLoader(
            str(path),
            open_encoding="utf-8",
            bs_kwargs={"features": "html.parser"},
            get_text_separator="\n",
        )
        kind = "UTF-8 HTML"
    try:
        with _quiet("pypdf"):
            pages = loader.load()
    except Exception as exc:  # pypdf, zipfile and codecs raise many kinds; all mean "unreadable"
        raise ValueError(f"{path} is not a readable {kind} file ({type(exc).__name__})") from None
    text = "\n\n".join(page.page_content for page in pages)
    if kind.endswith("HTML"):  # the source's indentation is markup, not text
        text = "\n".join(line.strip() for line in text.splitlines())
    return text


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Hold a library's warnings back: a broken file is reported as one line, not a log."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR + 10)
    try:
        yield
    finally:
        logger.setLevel(level)


def normalise_whitespace(text: str) -> str:
    """Strip trailing spaces from lines, collapse runs of blank lines to one, trim the ends."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
