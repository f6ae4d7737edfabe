"""The untrusted PR report made safe for CML, checked with a CommonMark parser (as CML's remark)."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from mlops.gitops import pr_comment

from conftest import ROOT

ALLOWED_TARGET = re.compile(r"^((base|pr)-[A-Za-z0-9_.-]+\.png|https?://\S+)$")
SECRET = "/proc/self/environ"


def targets_and_html(markdown: str) -> tuple[list[str], list[str]]:
    """Every link/image target and raw HTML a CommonMark parser finds (definitions resolve into links)."""
    targets, html = [], []

    def walk(tokens):
        for token in tokens:
            if token.type == "link_open":
                targets.append(token.attrs.get("href", ""))
            elif token.type == "image":
                targets.append(token.attrs.get("src", ""))
            elif token.type in ("html_inline", "html_block"):
                html.append(token.content)
            walk(token.children or [])

    parser = MarkdownIt("commonmark").enable("table")
    parser.validateLink = lambda url: True  # accept any scheme, as a permissive renderer might
    walk(parser.parse(markdown))
    return targets, html


ATTACKS = [
    f"![x]({SECRET})",
    '![x](../../etc/passwd "a title")',
    f"![x](<pr-a.png/../../{SECRET}>)",
    f"![x][ref]\n\n[ref]: {SECRET}",
    f"![x](\n{SECRET})",  # a destination on the next line
    f"> [r]: {SECRET}\n\n![a][r]",  # a definition in a blockquote
    f"- [r]: {SECRET}\n\n![a][r]",  # a definition in a list item
    f"[r]:\n{SECRET}\n\n![a][r]",  # a definition split over two lines
    f"\r[r]: {SECRET}\r\r![a][r]",  # bare carriage returns as line ends
    f'<img src="{SECRET}">',
    f"<file://{SECRET}>",  # an autolink
    f"[doc](report.md) and ![ok](pr-a.png)[x]({SECRET})",
    f"\\`[a]({SECRET})\\`",  # an escaped backtick is no code span
    f"`code` [a]({SECRET}) `more`",
    f"[![nested](pr-a.png)]({SECRET})",
]


@pytest.mark.parametrize("report", ATTACKS)
def test_no_local_file_but_the_figures_survives(report):
    def unsafe(markdown: str) -> list[str]:
        targets, html = targets_and_html(markdown)
        return [t for t in targets if not ALLOWED_TARGET.match(t)] + [tag for tag in html if SECRET in tag]

    assert unsafe(report), "not an attack: a parser finds nothing unsafe in it as sent"
    safe, neutralised = pr_comment.sanitize(report)
    assert unsafe(safe) == []
    assert neutralised > 0


def test_the_reports_own_links_figures_and_code_pass_unchanged():
    report = (ROOT / "docs/examples/pr-report/report.md").read_text()
    report += (
        "\n| `split.stratify.bins` | `[0, 1.5, 3]` | `[0, 2, 4]` |\n[MLflow run](https://mlflow.example/#/runs/1)\n"
    )
    safe, neutralised = pr_comment.sanitize(report)
    assert safe == report
    assert neutralised == 0
    targets, _ = targets_and_html(safe)
    assert "pr-predicted_vs_actual.png" in targets
    assert "https://mlflow.example/#/runs/1" in targets


def test_main_writes_the_comment_or_says_there_is_no_report(tmp_path, capsys):
    (tmp_path / "comment.md").write_text(f"![x]({SECRET})\n")  # smuggled in the artifact
    assert pr_comment.main([str(tmp_path)]) == 0
    assert "nothing to post" in capsys.readouterr().out
    assert not (tmp_path / "comment.md").exists()
    (tmp_path / "report.md").write_text(f"![x]({SECRET})\n")
    assert pr_comment.main([str(tmp_path)]) == 0
    assert "escaped 1 bracket(s)" in capsys.readouterr().out
    assert targets_and_html((tmp_path / "comment.md").read_text())[0] == []


TOKENS = ["[", "]", "(", ")", "!", "<", ">", "`", "\\", "\n", "\r", " ", ":", '"', "-", ">", "*", "|",
          SECRET, "pr-a.png", "https://x.example/", "file://", "<!--", "-->", "<sub>", "r", "x"]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_any_arrangement_of_markdown_syntax_leaves_only_allowed_targets(report):
    safe, _ = pr_comment.sanitize(report)
    targets, html = targets_and_html(safe)
    assert all(ALLOWED_TARGET.match(target) for target in targets), (report, targets)
    # Raw HTML holds no tag but the report's own (an HTML block's other text is escaped, inert).
    assert all("<" not in pr_comment.ALLOWED_HTML.sub("", block) for block in html), (report, html)
