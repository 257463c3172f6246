"""Sphinx helpers for bpnet's documentation: Markdown files of the repository (the
changelog, the benchmark summary) read where they are, names in docstring types quoted,
and the scikit-learn labels that inherited docstrings refer to."""

import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

_HEADING_UNDERLINES = {1: "=", 2: "-", 3: "~", 4: "^"}
_INLINE = re.compile(
    r"(?P<code>`[^`]+`)"
    r"|(?P<link>\[(?P<text>[^\]]+)\]\((?P<url>[^)\s]+)\))"
    r"|(?P<strong>\*\*[^*]+\*\*)"
    r"|(?P<emphasis>\*[^*\s][^*]*\*)"
)


def _escape(text):
    """Plain Markdown text as reStructuredText that reads the same."""
    return re.sub(r"([\\*_`|])", r"\\\1", text)


def _inline(text):
    """One line of Markdown (code, links, bold, italics, plain text) as reStructuredText.

    Inline markup next to a letter needs an escaped space in reStructuredText
    (``code``\\ s), which the joins below add.
    """
    pieces = []
    position = 0
    for match in _INLINE.finditer(text):
        pieces.append(("text", _escape(text[position : match.start()])))
        if match["code"]:
            pieces.append(("markup", f"``{match['code'][1:-1]}``"))
        elif match["link"]:
            pieces.append(("markup", f"`{_escape(match['text'])} <{match['url']}>`__"))
        elif match["strong"]:
            pieces.append(("markup", f"**{_escape(match['strong'][2:-2])}**"))
        else:
            pieces.append(("markup", f"*{_escape(match['emphasis'][1:-1])}*"))
        position = match.end()
    pieces.append(("text", _escape(text[position:])))
    out = ""
    previous_kind = "text"
    for kind, piece in pieces:
        if not piece:
            continue
        if kind == "markup" and re.search(r"\w$", out):
            out += "\\ "  # markup right after a letter: word\ ``code``
        elif kind == "text" and previous_kind == "markup" and re.match(r"\w", piece):
            out += "\\ "  # a letter right after markup: ``code``\ s
        out += piece
        previous_kind = kind
    return out


def _table(rows):
    """Markdown table rows (``| a | b |``, the second one the rule under the header) as a
    reStructuredText list table."""
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    lines = ["", ".. list-table::", "   :header-rows: 1", ""]
    for row in [cells[0], *cells[2:]]:
        for index, cell in enumerate(row):
            lines.append(("   * - " if index == 0 else "     - ") + _inline(cell))
    return [line.rstrip() for line in lines] + [""]


def _blocks(markdown):
    """Markdown lines grouped into (kind, text) blocks: a heading, a table, a bullet item
    with its indented continuation lines, a paragraph, or a blank line; so that inline
    markup may span line breaks, as it does in Markdown."""
    blocks = []
    for line in markdown.splitlines():
        previous = blocks[-1] if blocks else (None, None)
        if not line.strip():
            blocks.append(("blank", ""))
        elif line.startswith("|"):
            if previous[0] == "table":
                previous[1].append(line)
            else:
                blocks.append(("table", [line]))
        elif line.startswith("#"):
            blocks.append(("heading", line))
        elif line.startswith("- "):
            blocks.append(("item", line[2:].strip()))
        elif previous[0] in ("item", "paragraph"):
            blocks[-1] = (previous[0], previous[1] + " " + line.strip())
        else:
            blocks.append(("paragraph", line.strip()))
    return blocks


def markdown_to_rst(markdown):
    """The subset of Markdown that CHANGELOG.md and the benchmark summary use (headings,
    paragraphs, bullet lists with indented continuation lines, tables, inline code,
    links, bold and italics) as reStructuredText lines."""
    lines = []
    for kind, text in _blocks(markdown):
        if kind == "heading":
            hashes, title = text.split(" ", 1)
            title = _inline(title)
            lines += ["", title, _HEADING_UNDERLINES[len(hashes)] * len(title), ""]
        elif kind == "table":
            lines += _table(text)
        elif kind == "item":
            lines.append("- " + _inline(text))
        else:
            lines.append(_inline(text))
    return lines


class MarkdownInclude(Directive):
    """``.. markdown-include:: ../CHANGELOG.md``: a Markdown file of the repository,
    converted, so that the file people edit (or a script writes) stays the only copy.
    """

    required_arguments = 1
    has_content = False

    def run(self):
        env = self.state.document.settings.env
        path = (Path(env.srcdir) / env.docname).parent / self.arguments[0]
        env.note_dependency(str(path.resolve()))
        lines = markdown_to_rst(path.read_text(encoding="utf-8"))
        holder = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=str(path)), holder)
        return holder.children


# Labels of scikit-learn's documentation that the docstrings bpnet inherits from it
# (score, get_metadata_routing) refer to. Intersphinx resolves them when it is on;
# offline they link to these pages.
SKLEARN = "https://scikit-learn.org/stable/"
SKLEARN_LABELS = {
    "accuracy_score": SKLEARN + "modules/model_evaluation.html#accuracy-score",
    "r2_score": SKLEARN + "modules/model_evaluation.html#r2-score",
    "metadata_routing": SKLEARN + "metadata_routing.html",
}

_TYPE_LINE = re.compile(r"^(\s*\w+ : )(.*)$")
_TRAILING_UNDERSCORE_NAME = re.compile(r"(?<![`\w])(\w+_)(?![`\w])")


def _quote_names_in_types(app, what, name, obj, options, lines):
    """In numpydoc's ``name : type`` lines, quote names that end in an underscore
    (``ndarray of shape (n_features_in_,)``), which reStructuredText reads as links."""
    for index, line in enumerate(lines):
        match = _TYPE_LINE.match(line)
        if match:
            quoted = _TRAILING_UNDERSCORE_NAME.sub(r"``\1``", match[2])
            lines[index] = match[1] + quoted


def _link_sklearn_labels(app, env, node, contnode):
    if node.get("refdomain") != "std" or node.get("reftype") != "ref":
        return None
    url = SKLEARN_LABELS.get(node.get("reftarget"))
    if url is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=url)
    reference += contnode
    return reference


def setup(app):
    app.add_directive("markdown-include", MarkdownInclude)
    # Before numpydoc (priority 500) turns the sections into field lists.
    app.connect("autodoc-process-docstring", _quote_names_in_types, priority=400)
    # After intersphinx, which resolves the labels itself when it is on.
    app.connect("missing-reference", _link_sklearn_labels, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
