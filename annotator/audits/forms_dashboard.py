"""The date range and period of the accuracy pages (GET parameters start, end, period)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from annotator.audits.selectors import default_range

#: Longest range a page shows: a year of days keeps the per-day chart readable.
MAX_RANGE_DAYS = 366


class AccuracyRangeForm(forms.Form):
    start = forms.DateField(
        label=_("From"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _("Start: write the date as YYYY-MM-DD.")},
    )
    end = forms.DateField(
        label=_("To"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _("End: write the date as YYYY-MM-DD.")},
    )
    period = forms.ChoiceField(
        label=_("Per"),
        required=False,
        choices=[("day", _("day")), ("week", _("week"))],
        error_messages={"invalid_choice": _("Period: choose day or week.")},
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        default_start, default_end = default_range()
        start = data.get("start")
        end = data.get("end")
        if "start" in self.errors or "end" in self.errors:
            return data
        if end is None:
            end = default_end if start is None else max(start, default_end)
        if start is None:
            start = end - (default_end - default_start)
        assert isinstance(start, date) and isinstance(end, date)
        if start > end:
            raise forms.ValidationError(
                _("The start (%(start)s) is after the end (%(end)s)."),
                params={"start": start.isoformat(), "end": end.isoformat()},
            )
        if end - start >= timedelta(days=MAX_RANGE_DAYS):
            raise forms.ValidationError(
                _("The range is longer than %(days)d days; choose a shorter one."), params={"days": MAX_RANGE_DAYS}
            )
        data["start"], data["end"] = start, end
        data["period"] = data.get("period") or "day"
        return data


def range_form_bind(params: Mapping[str, Any]) -> AccuracyRangeForm:
    """The form bound to the request's GET parameters (empty values mean the defaults)."""
    return AccuracyRangeForm(data=params or {})
