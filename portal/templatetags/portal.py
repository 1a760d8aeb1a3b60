from django import template

from .. import scope as scope_words_module

register = template.Library()


@register.filter
def scope_words(values, field: str) -> str:
    """A list of scope values in plain words: {{ license.platforms|scope_words:"platforms" }}."""
    return scope_words_module.words(field, values or ())


@register.filter
def hours_from_seconds(seconds) -> str:
    return f"{(seconds or 0) / 3600:.2f}"


@register.filter
def minutes_seconds(seconds) -> str:
    seconds = int(round(seconds or 0))
    return f"{seconds // 60}:{seconds % 60:02d}"


@register.filter
def end_reason_words(code: str) -> str:
    return scope_words_module.end_reason_words(code or "")


@register.filter
def money(amount, currency: str) -> str:
    """{{ license.fee_amount|money:license.fee_currency }} → "CNY 5,000.00"."""
    return scope_words_module.money(amount or 0, currency)
