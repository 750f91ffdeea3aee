"""The Simplified Chinese catalog: complete, compiled, and actually shown to users who chose it.

The compiled ``django.mo`` is committed next to ``django.po`` (a machine with only Python
has no msgfmt), so these tests also catch a .po edited without recompiling:

    msgfmt --check -o locale/zh_Hans/LC_MESSAGES/django.mo locale/zh_Hans/LC_MESSAGES/django.po
"""

from __future__ import annotations

import ast
import gettext
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_PATH = LOCALE_DIR / "django.po"
MO_PATH = LOCALE_DIR / "django.mo"

# --- a small .po parser (stdlib only) -----------------------------------------------------


@dataclass
class PoEntry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def label(self) -> str:
        where = f"{PO_PATH.name}:{self.line}"
        return f"{where} {self.msgctxt + ' | ' if self.msgctxt else ''}{self.msgid!r}"


def _unquote(text: str) -> str:
    """One quoted PO string; PO escapes are C escapes, which Python's literal syntax reads."""
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), f"not a quoted PO string: {text!r}"
    return ast.literal_eval(text)


def po_parse(path: Path) -> list[PoEntry]:
    """Every non-obsolete entry of ``path``, the header (msgid "") included."""
    entries: list[PoEntry] = []
    entry: PoEntry | None = None
    target: tuple[str, int | None] | None = None
    flags: set[str] = set()

    def finish() -> None:
        nonlocal entry
        if entry is not None:
            entries.append(entry)
        entry = None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            target = None
            continue
        if line.startswith("#~"):  # obsolete: not in the catalog
            continue
        if line.startswith("#,"):
            flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            assert entry is not None and target is not None, f"{path.name}:{number}: stray string"
            name, index = target
            if name == "msgstr":
                entry.msgstr[index or 0] += _unquote(line)
            else:
                setattr(entry, name, getattr(entry, name) + _unquote(line))
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and (entry is None or entry.msgstr):
            finish()
        if entry is None:
            entry = PoEntry(flags=flags, line=number)
            flags = set()
        match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
        if keyword in ("msgctxt", "msgid", "msgid_plural"):
            setattr(entry, keyword, _unquote(rest))
            target = (keyword, None)
        elif keyword == "msgstr" or match:
            index = int(match.group(1)) if match else 0
            entry.msgstr[index] = _unquote(rest)
            target = ("msgstr", index)
        else:
            raise AssertionError(f"{path.name}:{number}: unexpected line {raw!r}")
    finish()
    return entries


PO_ENTRIES = po_parse(PO_PATH)
HEADER = next(entry for entry in PO_ENTRIES if entry.msgid == "" and entry.msgctxt is None)
MESSAGES = [entry for entry in PO_ENTRIES if entry is not HEADER]


def _ids(entries: list[PoEntry]) -> list[str]:
    return [entry.label for entry in entries]


def test_the_catalog_has_entries_and_a_proper_header():
    assert len(MESSAGES) > 100, "the catalog looks truncated"
    headers = dict(line.split(": ", 1) for line in HEADER.msgstr[0].splitlines() if ": " in line)
    assert headers.get("Language") == "zh_Hans"
    assert headers.get("Plural-Forms") == "nplurals=1; plural=0;"
    assert headers.get("Content-Type") == "text/plain; charset=UTF-8"
    assert "fuzzy" not in HEADER.flags


def test_no_duplicate_entries():
    keys = Counter((entry.msgctxt, entry.msgid) for entry in MESSAGES)
    assert [key for key, count in keys.items() if count > 1] == []


# --- (a) every entry translated, nothing fuzzy ----------------------------------------------


@pytest.mark.parametrize("entry", MESSAGES, ids=_ids(MESSAGES))
def test_every_entry_is_translated_and_not_fuzzy(entry: PoEntry):
    assert "fuzzy" not in entry.flags, "a fuzzy entry is not used by Django: check it and drop the flag"
    # Chinese has one plural form (nplurals=1): plural entries carry exactly msgstr[0].
    assert sorted(entry.msgstr) == [0]
    assert entry.msgstr[0].strip(), "empty translation"


# --- (b) the committed .mo is the compiled .po ----------------------------------------------


def test_the_mo_is_up_to_date_with_the_po():
    with MO_PATH.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)
        handle.seek(0)
        magic = handle.read(4)
        endian = "<" if magic == b"\xde\x12\x04\x95" else ">"
        _version, count = struct.unpack(endian + "II", handle.read(8))
    # One string per entry, plus the header (msgid "").
    assert count == len(MESSAGES) + 1, "the .mo holds a different number of messages than the .po: recompile it"
    assert catalog.info().get("plural-forms") == "nplurals=1; plural=0;"
    assert catalog.charset() == "UTF-8"

    stale = []
    for entry in MESSAGES:
        if entry.msgid_plural is not None:
            if entry.msgctxt is not None:
                got = catalog.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, 1)
            else:
                got = catalog.ngettext(entry.msgid, entry.msgid_plural, 1)
        elif entry.msgctxt is not None:
            got = catalog.pgettext(entry.msgctxt, entry.msgid)
        else:
            got = catalog.gettext(entry.msgid)
        if got != entry.msgstr[0]:
            stale.append((entry.label, entry.msgstr[0], got))
    assert stale == [], "the .mo does not match the .po: recompile it with msgfmt"


# --- (d) placeholders kept --------------------------------------------------------------------

# %(name)s / %(count)d, bare %s / %d, and {name} / {} (str.format); "%%" is a literal percent.
_CONVERSION = r"[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc]"
PERCENT_RE = re.compile(rf"%%|%\([^)]+\){_CONVERSION}|%{_CONVERSION}")
PLACEHOLDER_RE = re.compile(rf"{PERCENT_RE.pattern}|\{{[^{{}}]*\}}")


def placeholders(text: str) -> Counter[str]:
    return Counter(match for match in PLACEHOLDER_RE.findall(text) if match != "%%")


@pytest.mark.parametrize("entry", MESSAGES, ids=_ids(MESSAGES))
def test_placeholders_match(entry: PoEntry):
    expected = placeholders(entry.msgid)
    if entry.msgid_plural is not None:
        # The only Chinese form stands for every count, so it uses the plural's placeholders.
        assert placeholders(entry.msgid_plural) == expected, "singular and plural msgid disagree"
    for text in entry.msgstr.values():
        assert placeholders(text) == expected
    if "python-format" in entry.flags:
        for text in entry.msgstr.values():
            assert PERCENT_RE.sub("", text).count("%") == 0, "a stray % breaks the % operator on this string"


# --- (c) a user who chose Chinese sees Chinese ----------------------------------------------

NAV_ENGLISH = ("Home", "Taxonomy", "Imports", "Snapshots", "Log out", "Language")


class _HeaderText(HTMLParser):
    """The visible text and the aria-labels inside <header>, where the navigation lives."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "header":
            self.depth += 1
        if self.depth:
            self.parts.extend(value or "" for name, value in attrs if name in ("aria-label", "title", "placeholder"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "header" and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def header_text(html: str) -> str:
    parser = _HeaderText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture
def chinese_admin_client(admin_user):
    from django.test import Client

    admin_user.profile.language = "zh-hans"
    admin_user.profile.save()
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def some_data(admin_user):
    """A small taxonomy, one finished import and one snapshot, so tables and badges render."""
    from annotator.dataset.models import ImportJob, Snapshot
    from annotator.taxonomy.services import taxonomy_load
    from tests.taxonomy.sample import sample_taxonomy

    taxonomy_load(data=sample_taxonomy(), source="sample.json")
    ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.SUCCEEDED, created_by=admin_user)
    Snapshot.objects.create(
        path="var/snapshots/1",
        content_hash="0" * 64,
        image_count=0,
        label_count=0,
        positive_count=0,
        negative_count=0,
        note="round 1",
        created_by=admin_user,
    )


PAGES = {
    # url name: Chinese the page must show (its heading first)
    "home": ["欢迎，boss", "图片", "正例标签", "已确认负例", "最近的导入任务", "已成功"],
    "taxonomy:index": ["标签体系", "搜索标签", "个标签", "个类别", "蕴含", "互斥", "小目标", "已停用"],
    "dataset:imports": ["导入", "新建导入", "类型", "状态", "进度", "创建时间", "已成功"],
    "dataset:snapshots": ["快照", "创建快照", "正例", "负例", "训练集 / 验证集", "内容哈希", "备注"],
    "audits:dashboard": ["质检准确率", "团队准确率", "Wilson 95 % 置信区间", "导出 CSV", "低于目标的标注员"],
    "audits:feedback": ["我的抽检", "Wilson 95 % 置信区间", "各标签准确率", "该时间范围内没有抽检发现的错误。"],
}


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", list(PAGES))
def test_a_user_who_chose_chinese_sees_chinese(chinese_admin_client, some_data, url_name):
    from django.urls import reverse

    response = chinese_admin_client.get(reverse(url_name))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    h1 = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert h1 is not None and PAGES[url_name][0] in h1.group(1)
    for text in PAGES[url_name]:
        assert text in html, text

    nav = header_text(html)
    for chinese in ("首页", "标签体系", "导入", "快照", "后台管理", "退出登录"):
        assert chinese in nav, chinese
    for english in NAV_ENGLISH:
        assert not re.search(rf"\b{re.escape(english)}\b", nav), f"{english!r} left in the navigation: {nav}"


@pytest.mark.django_db
def test_english_stays_the_default(admin_client_):
    """The same page for a user who kept English: the catalog changes nothing there."""
    from django.urls import reverse

    html = admin_client_.get(reverse("home")).content.decode()
    nav = header_text(html)
    for english in ("Home", "Taxonomy", "Imports", "Snapshots", "Log out"):
        assert english in nav
    assert "首页" not in nav
