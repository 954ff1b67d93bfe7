"""Settings: the one place a setting is declared, documented, typed, bounded and checked.

A settings class is a dataclass whose fields are declared with `setting()`: its default, the doc
that becomes `vidcli settings` output and the `--help` text of any dedicated command option, whether
it changes the result (`significant`), and its allowed values (`choices`, or `bounds` as an
interval such as "(0, 240]" or "[1, inf)"). A class may add `check(self)` for rules that join
fields; it raises `ConfigError` with a message naming them.

Values from YAML, workflow files and `--set STAGE.FIELD=VALUE` all go through `build()`, which
checks names, types, bounds and choices once, where the plan is made. Floats reject NaN and
infinity, booleans are not integers, and an integer or a number in text ("1e3") is a float.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from vidcli.errors import ConfigError, with_prefix

_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^,\s]+)\s*([\])])\s*$")
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Interval:
    """A closed, open or half-open range of numbers, written as in mathematics: "(0, 240]"."""

    low: float
    high: float
    low_open: bool
    high_open: bool

    @classmethod
    def parse(cls, text: str) -> Interval:
        match = _INTERVAL.match(text)
        if not match:
            raise ValueError(f"not an interval: {text!r}")
        left, low, high, right = match.groups()
        return cls(float(low), float(high), left == "(", right == ")")

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        def number(x: float) -> str:
            return "inf" if math.isinf(x) else f"{x:g}"

        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{left}{number(self.low)}, {number(self.high)}{right}"


def setting(default: Any, doc: str, *, significant: bool = True,
            choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
            bounds: str | None = None):
    """A documented settings field; `significant=False` marks fields that do not change the result.

    `choices` may be a function, for lists that grow at run time (registered backends).
    """
    metadata = {"doc": doc, "significant": significant, "choices": choices,
                "bounds": Interval.parse(bounds) if bounds else None}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Setting:
    """What is known of one field: for checks, `vidcli settings` and command-line options."""

    name: str
    type: type
    default: Any
    doc: str
    significant: bool
    choices: tuple[str, ...] | None
    bounds: Interval | None

    @property
    def allowed(self) -> str:
        """The allowed values in words: the choices, the interval, or any of the type's."""
        if self.choices:
            return " | ".join(self.choices)
        if self.type is bool:
            return "true | false"
        return str(self.bounds) if self.bounds else "any"


def settings_of(cls) -> dict[str, Setting]:
    """The settings of a settings class (or instance), by name, in declaration order."""
    found = {}
    for f in dataclasses.fields(cls):
        choices = f.metadata.get("choices")
        found[f.name] = Setting(f.name, type(f.default), f.default, f.metadata.get("doc", ""),
                                f.metadata.get("significant", True),
                                choices() if callable(choices) else choices, f.metadata.get("bounds"))
    return found


def build(cls, values: dict[str, Any], where: str, text: dict[str, str] | None = None):
    """An instance of `cls` from typed `values` and command-line `text` (parsed by each field's type),
    every field checked; errors name `where.field`."""
    known = settings_of(cls)
    given = {**values, **(text or {})}
    unknown = [name for name in given if name not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}; known: {', '.join(known)}")
    parsed = {name: parse(known[name], value, where) for name, value in (text or {}).items()}
    instance = dataclasses.replace(cls(), **{**values, **parsed})
    check(instance, where)
    return instance


def check(instance, where: str) -> None:
    """Check every field's type, choices and bounds, then the class's own `check()`."""
    for name, info in settings_of(instance).items():
        value = coerce(info, getattr(instance, name), where)
        object.__setattr__(instance, name, value)
    rule = getattr(instance, "check", None)
    if rule is not None:
        try:
            rule()
        except ConfigError as exc:
            raise ConfigError(with_prefix(where, str(exc))) from None


def coerce(info: Setting, value: Any, where: str) -> Any:
    """`value` as the field's type, or a ConfigError saying what is allowed."""
    label = f"{where}.{info.name}"
    if info.type is float and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if info.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if info.type is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # a number in a text setting that also takes numbers (camera.focal: 500)
    if type(value) is not info.type:
        raise ConfigError(f"{label} must be {info.type.__name__}, got {type(value).__name__} {value!r}")
    if info.type is float and not math.isfinite(value):
        raise ConfigError(f"{label} must be a finite number, got {value!r}")
    if info.choices and value not in info.choices:
        raise ConfigError(f"{label} must be one of {', '.join(info.choices)}; got {value!r}")
    if info.bounds and value not in info.bounds:
        raise ConfigError(f"{label} must lie in {info.bounds}, got {value!r}")
    return value


def parse(info: Setting, text: str, where: str) -> Any:
    """A command-line text as the field's type (booleans: true/false, yes/no, on/off, 1/0)."""
    label = f"{where}.{info.name}"
    if info.type is bool:
        if text.lower() not in _TRUE | _FALSE:
            raise ConfigError(f"{label} must be true or false, got {text!r}")
        return text.lower() in _TRUE
    if info.type in (int, float):
        try:
            return info.type(text)
        except ValueError:
            raise ConfigError(f"{label} must be {info.type.__name__}, got {text!r}") from None
    return text


def significant_values(instance) -> dict[str, Any]:
    return {name: getattr(instance, name) for name, info in settings_of(instance).items() if info.significant}
