"""The console's languages (Simplified Chinese, English) and its local time.

Every message is written in English in the code and the templates and translated through a
gettext catalog: web/locale/<locale>/LC_MESSAGES/messages.po, read and compiled in memory
when the app starts (no build step, nothing written to disk). A page's language is the
user's pick (the switch in the page header keeps it in a cookie), else `web.language`, else
zh-CN when `asr.languages` starts with zh, else en. Times are shown in the `timezone`
setting; dates in the language's own format.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, get_timezone_location
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from callscope.core.config import Settings, WebSettings
from starlette.requests import HTTPConnection

LANGUAGES: tuple[str, ...] = WebSettings.LANGUAGES
LANGUAGE_COOKIE = "callscope_language"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
BABEL_LOCALE = {"zh-CN": "zh_CN", "en": "en"}
NAMES = {"zh-CN": "中文", "en": "English"}  # each in its own language, for the switch
LABEL_SEPARATOR = " · "
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
SOUNDS_LIKE = " (sounds like)"


def N_(message: str) -> str:
    """Marks a message for the catalog; it is translated where it is shown."""
    return message


# Words that come from the data (speakers, emotions, roles, kinds, choices of a form): shown
# translated through the `term` filter; anything else is shown as it is.
WORDS = frozenset(
    {
        N_("agent"),
        N_("customer"),
        N_("ivr"),
        N_("unknown"),
        N_("angry"),
        N_("frustrated"),
        N_("negative"),
        N_("neutral"),
        N_("positive"),
        N_("supervisor"),
        N_("analyst"),
        N_("marketing"),
        N_("category"),
        N_("topic"),
        N_("all"),
        N_("queue"),
        N_("relevance"),
        N_("newest"),
        N_("oldest"),
        N_("from"),
        N_("to"),
        N_("speaker"),
        N_("sort"),
        N_("sentiment_min"),
        N_("sentiment_max"),
        N_("zh"),
        N_("en"),
    }
)


def default_language(settings: Settings) -> str:
    """`web.language`, else zh-CN when the first of `asr.languages` is Chinese, else en."""
    if settings.web.language:
        return settings.web.language
    return "zh-CN" if settings.asr.languages[0].lower().startswith("zh") else "en"


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / BABEL_LOCALE[language] / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> NullTranslations:
    """The language's messages: its .po catalog compiled in memory; English is the source."""
    path = catalog_path(language)
    if not path.is_file():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=BABEL_LOCALE[language], domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def language_of(connection: HTTPConnection, default: str) -> str:
    """The language the user picked (cookie), else `default`."""
    picked = connection.cookies.get(LANGUAGE_COOKIE, "")
    return picked if picked in LANGUAGES else default


def label_in(label: str | None, language: str) -> str | None:
    """A bilingual label ('预约 / 预售失败 · pre-order failure') in one language: its parts
    in Han characters for Chinese, the others for English; a label in one language only (a
    topic's Chinese words) stays whole."""
    if not label:
        return label
    parts = [part.strip() for part in label.split(LABEL_SEPARATOR.strip())]
    chinese = [part for part in parts if HAN.search(part)]
    other = [part for part in parts if part and not HAN.search(part)]
    if not chinese or not other:
        return label
    return LABEL_SEPARATOR.join(chinese if language == "zh-CN" else other)


def parse_moment(value: dt.datetime | str | None) -> dt.datetime | None:
    """A stored time (aware, or naive UTC), or its ISO text; None when it is neither."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_day(value: dt.date | str | None) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def queue_name(names: dict[str, str | dict[str, str]], queue_id: str | None, language: str) -> str:
    """The queue's display name in `language` (zh-CN reads the `zh` name): one name for
    every language, or the language's own; the id when the mapping has neither."""
    if not queue_id:
        return queue_id or ""
    found = names.get(queue_id)
    if isinstance(found, dict):
        found = found.get(language.split("-")[0]) or found.get(language)
    return found or queue_id


@dataclass(frozen=True)
class Presenter:
    """How one language shows labels, words, dates and times (in `zone`)."""

    language: str
    zone: ZoneInfo
    category_labels: dict[str, str] = field(default_factory=dict)
    queue_names: dict[str, str | dict[str, str]] = field(default_factory=dict)

    @property
    def texts(self) -> NullTranslations:
        return translations(self.language)

    @property
    def locale(self) -> str:
        return BABEL_LOCALE[self.language]

    def term(self, word: str | None) -> str:
        """A word from the data, translated when the catalog knows it."""
        if not word:
            return word or ""
        return self.texts.gettext(word) if word in WORDS else word

    def label(self, label: str | None) -> str | None:
        return label_in(label, self.language)

    def category(self, name: str | None) -> str:
        """A category id as its label in this language (the id when the rules lack it); a
        tag marked ' (sounds like)' keeps the mark, translated."""
        if not name:
            return ""
        if name.endswith(SOUNDS_LIKE):
            shown = self.category(name.removesuffix(SOUNDS_LIKE))
            return self.texts.gettext("%(label)s (sounds like)") % {"label": shown}
        return self.label(self.category_labels.get(name, name)) or name

    def queue(self, queue_id: str | None) -> str:
        """A queue id as its name in this language (`web.queue_names`), else the id."""
        return queue_name(self.queue_names, queue_id, self.language)

    def day(self, value: dt.date | str | None) -> str:
        """A date in this language's format (2026年11月20日, Nov 20, 2026)."""
        day = parse_day(value)
        if day is None:
            return "" if value is None else str(value)
        return format_date(day, "medium", locale=self.locale)

    def time(self, value: dt.datetime | str | None) -> str:
        """The local time of day of a stored moment (HH:MM), '-' when there is none."""
        moment = parse_moment(value)
        if moment is None:
            return "-"
        return moment.astimezone(self.zone).strftime("%H:%M")

    def moment(self, value: dt.datetime | str | None) -> str:
        """A stored moment as the local date and time."""
        moment = parse_moment(value)
        if moment is None:
            return "-"
        local = moment.astimezone(self.zone)
        return f"{self.day(local.date())} {self.time(local)}"

    def zone_note(self, now: dt.datetime | None = None) -> str:
        """The zone every time on the page is in, named once: its place, id and offset."""
        local = (now or dt.datetime.now(dt.UTC)).astimezone(self.zone)
        offset = local.strftime("%z")
        place = get_timezone_location(self.zone, locale=self.locale)
        return self.texts.gettext("Times are %(place)s (%(zone)s, UTC%(offset)s).") % {
            "place": place,
            "zone": self.zone.key,
            "offset": f"{offset[:3]}:{offset[3:]}",
        }
