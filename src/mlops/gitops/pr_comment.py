"""Make the untrusted PR report safe for CML to post: `python -m mlops.gitops.pr_comment <report dir>`.

The report comes from the PR's own code (an artifact). CML uploads every local file a
markdown link, image or reference definition names, absolute paths included, so a crafted
report could publish the comment job's environment (its token). Rather than recognise every
way markdown can form a link, this keeps only single-line links and images whose target is one
of the report's figures (`base-*.png`, `pr-*.png`) or an http(s) URL, and escapes every other
bracket and angle bracket: escaped, they cannot form a link, image, definition or HTML tag.

Writes `<dir>/comment.md`; without a `report.md` (CI stopped before the report) writes
nothing and says so. Standard library only: the comment workflow runs it without installing.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

FIGURE = r"(?:base|pr)-[A-Za-z0-9_.-]+\.png"
URL = r"https?://[^\s()<>\[\]]+"
# A whole link or image on one line: [text](target) or ![alt](target), with an allowed target.
ALLOWED_LINK = re.compile(rf"!?\[[^\[\]\r\n<>]*\]\((?:{FIGURE}|{URL})\)")
# The few tags and comments the report itself writes.
ALLOWED_HTML = re.compile(r"</?sub>|<br */?>|<!--[^<>\r\n]*-->")
# A plain one-line code span (params values such as `[0, 1.5]`): CommonMark reads it as code
# before any link, so its brackets stay as they are. Nothing that could end it early inside.
CODE_SPAN = re.compile(r"(?<![`\\])`[^`\r\n\\<>]*`(?!`)")
ESCAPES = {"[": r"\[", "]": r"\]", "<": "&lt;", ">": "&gt;", "\\": "\\\\"}
UNSAFE = re.compile(r"[\[\]<>\\]")


def sanitize(report: str) -> tuple[str, int]:
    """The report with every link or tag but the allowed ones neutralised; and how many were."""
    kept = re.compile(f"{ALLOWED_LINK.pattern}|{ALLOWED_HTML.pattern}|{CODE_SPAN.pattern}")
    out: list[str] = []
    neutralised = 0
    position = 0
    for match in kept.finditer(report):
        text = report[position : match.start()]
        neutralised += len(re.findall(r"[\[<]", text))
        out.append(UNSAFE.sub(lambda m: ESCAPES[m.group()], text))
        out.append(match.group())
        position = match.end()
    tail = report[position:]
    neutralised += len(re.findall(r"[\[<]", tail))
    out.append(UNSAFE.sub(lambda m: ESCAPES[m.group()], tail))
    return "".join(out), neutralised


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="the downloaded report artifact")
    args = parser.parse_args(argv)
    source, target = args.directory / "report.md", args.directory / "comment.md"
    target.unlink(missing_ok=True)  # the artifact could bring its own
    if not source.is_file():
        print(f"[pr_comment] no {source}: CI stopped before the report; nothing to post")
        return 0
    text, neutralised = sanitize(source.read_text(encoding="utf-8", errors="replace"))
    target.write_text(text, encoding="utf-8")
    if neutralised:
        print(f"[pr_comment] escaped {neutralised} bracket(s) or tag(s) that were not the report's own links")
    return 0


if __name__ == "__main__":
    sys.exit(main())
