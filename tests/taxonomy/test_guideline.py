"""Guidelines are markdown, rendered to HTML that cannot run code in the page."""

from __future__ import annotations

from annotator.taxonomy.models import Label
from annotator.taxonomy.services import label_guideline_html


def _render(text: str) -> str:
    return str(label_guideline_html(Label(key="x", name_en="X", guideline=text)))


def test_markdown_is_rendered():
    html = _render("Any **domestic** cat.\n\n- sleeping\n- playing\n\n![a cat](https://example.org/cat.jpg)")
    assert "<strong>domestic</strong>" in html
    assert "<li>sleeping</li>" in html
    assert '<img alt="a cat" src="https://example.org/cat.jpg">' in html


def test_scripts_handlers_and_javascript_links_are_removed():
    html = _render(
        '<script>alert(1)</script>\n\n<img src="x.jpg" onerror="alert(2)">\n\n'
        '[click](javascript:alert(3)) <a href="https://example.org" onclick="alert(4)">ok</a>'
    )
    assert "<script" not in html and "alert(1)" not in html
    assert "onerror" not in html and "onclick" not in html
    assert "javascript:" not in html
    assert 'href="https://example.org"' in html and 'rel="noopener noreferrer"' in html


def test_an_empty_guideline_renders_nothing():
    assert _render("") == ""
