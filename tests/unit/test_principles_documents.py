"""prompts/documents.py: principles from real PDF, DOCX, HTML and Markdown files, and bad ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agents.errors import UserError
from graph.context import RunConfig
from graph.run import EXIT_USER_ERROR
from graph.runtime.resources import load_inputs
from prompts.documents import read_principles
from tests.doubles.scripted_runs import SCRIPTED, SCRIPTED_CONFIG, scripted_main

PRINCIPLES = [
    "Refuse to give instructions for building weapons.",
    "Never reveal personal data about private people.",
]


def write_pdf(path: Path, lines: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    for line in lines:
        pdf.multi_cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Safety principles", level=1)
    for line in PRINCIPLES:
        document.add_paragraph(line, style="List Bullet")
    document.save(str(path))
    return path


HTML = """<!doctype html>
<html><head><title>Policy</title><style>h1 { color: red; }</style></head>
<body>
  <h1>Safety principles</h1>
  <ul>
    <li>{0}</li>
    <li>{1}</li>
  </ul>
  <script>var tracking = "ignore me";</script>
</body></html>
"""


def documents(tmp_path: Path) -> dict[str, Path]:
    html = tmp_path / "policy.HTML"  # the suffix is matched case-insensitively
    html.write_text(HTML.replace("{0}", PRINCIPLES[0]).replace("{1}", PRINCIPLES[1]))
    markdown = tmp_path / "policy.md"
    markdown.write_text("# Safety principles\n\n\n\n- " + "\n- ".join(PRINCIPLES) + "\n")
    return {
        "pdf": write_pdf(tmp_path / "policy.pdf", PRINCIPLES),
        "docx": write_docx(tmp_path / "policy.docx"),
        "html": html,
        "markdown": markdown,
    }


@pytest.mark.parametrize("kind", ["pdf", "docx", "html", "markdown"])
def test_each_format_yields_the_principle_text(tmp_path, kind):
    text = read_principles(documents(tmp_path)[kind])
    for line in PRINCIPLES:
        assert line in text
    assert "<" not in text and ">" not in text
    assert "\n\n\n" not in text and text == text.strip()
    if kind == "html":
        assert "Safety principles" in text and "ignore me" not in text and "color" not in text


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_FILES = [
    # (id, build(tmp) -> path, expected substring of the one-line message)
    ("unsupported", lambda t: write_bytes(t / "policy.xlsx", b"PK"), "unsupported"),
    ("corrupt-pdf", lambda t: write_bytes(t / "p.pdf", os.urandom(2048)), "not a readable PDF"),
    ("scanned-pdf", lambda t: write_pdf(t / "scan.pdf", []), "no extractable text"),
    ("empty-markdown", lambda t: write_bytes(t / "p.md", b"  \n\n \n"), "is empty"),
    ("corrupt-docx", lambda t: write_bytes(t / "p.docx", os.urandom(2048)), "not a readable DOCX"),
    ("binary-text", lambda t: write_bytes(t / "p.txt", b"\xff\xfe\x00"), "not UTF-8 text"),
    ("missing", lambda t: t / "nope.pdf", "file not found"),
]


@pytest.mark.parametrize(
    ("build", "expected"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_a_bad_document_is_one_clear_line(tmp_path, capsys, build, expected):
    path = build(tmp_path)
    with pytest.raises(ValueError) as info:
        read_principles(path)
    message = str(info.value)
    assert expected in message and path.name in message
    assert "\n" not in message and len(message) < 300
    out, err = capsys.readouterr()
    assert out + err == ""  # the parser's own warnings are held back


def test_the_unsupported_suffix_error_lists_the_accepted_ones(tmp_path):
    with pytest.raises(ValueError, match=r"\.pdf.*\.html.*\.docx.*\.md"):
        read_principles(write_bytes(tmp_path / "policy.xlsx", b"PK"))


def test_a_run_loads_principles_from_a_pdf(tmp_path):
    pdf = write_pdf(tmp_path / "policy.pdf", PRINCIPLES)
    inputs = load_inputs(RunConfig(out=tmp_path / "run", principles=pdf, **SCRIPTED_CONFIG))
    assert all(line in inputs.principles for line in PRINCIPLES)


def test_a_run_with_an_unreadable_document_is_a_user_error(tmp_path):
    bad = write_bytes(tmp_path / "policy.docx", os.urandom(2048))
    config = RunConfig(out=tmp_path / "run", principles=bad, **SCRIPTED_CONFIG)
    with pytest.raises(UserError, match=r"^--principles .*policy\.docx is not a readable DOCX"):
        load_inputs(config)


def test_cli_rejects_an_unsupported_principles_file_with_exit_2(tmp_path, capsys):
    bad = write_bytes(tmp_path / "bad.xlsx", b"PK")
    out = tmp_path / "run"
    argv = [*SCRIPTED, "--out", str(out), "--principles", str(bad)]
    assert scripted_main(argv) == EXIT_USER_ERROR
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --principles") and "bad.xlsx" in lines[0]
    assert not out.exists()  # refused before anything was written
