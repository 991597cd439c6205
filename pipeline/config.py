"""Configuration: defaults in typed dataclasses, overlaid by ``pipeline.toml``, ``-c FILE`` and ``--set``.

Every table in the TOML maps to one dataclass of the *schema* the caller passes in (the application
assembles it from the stages' own ``Config`` classes, see ``pipeline.cli.settings``), so the core
names no stage. Values are validated field by field; any problem is a one-line :class:`FacepipeError` naming the file, the key and
what is allowed. Fields are declared with :func:`option`, which carries the help text, unit, range and
choices that ``pipeline.toml`` documents and the validator enforces.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Mapping

from pipeline.device import DEVICE_HELP, check_device_name
from pipeline.errors import FacepipeError


def option(
    default: Any,
    help: str,
    *,
    unit: str = "",
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A config field with its documentation and bounds (read by the validator and by tests)."""
    meta = {"help": help, "unit": unit, "min": min, "max": max, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class PipelineConfig:
    """The ``[pipeline]`` table: which stages run, in which order, and on what."""

    stages: list[str] = option(
        ["detect", "landmarks", "align", "strip", "swap", "blend"],
        "frame stages run by `convert`, in order; [] copies video through (a plain transcode)",
    )
    device: str = option("auto", DEVICE_HELP)
    queue_frames: int = option(16, "frames buffered between threads (bounds memory)", unit="frames", min=2, max=1024)
    threads: int = option(1, "intra-op threads of torch in a stage (swap, FAN, attack); every stage already runs "
                          "in a thread of its own, so 1 avoids oversubscribing the cores (0 = torch's default)",
                          min=0, max=256)


# A section's dataclass, or a function that imports and returns it (see ``load_config``).
SectionType = type | Callable[[], type]
RawTable = dict[str, tuple[Any, str]]  # key -> (value, where it came from)


class Config:
    """All sections of one run; ``config.encode.crf`` style access.

    Sections nobody touched but the repository defaults are built (and their modules imported) on first
    access, so a run that never looks at a stage's table never imports that stage (``load_config``).
    """

    def __init__(self, sections: dict[str, Any], sources: list[str],
                 pending: dict[str, tuple[Callable[[], type], RawTable]] | None = None) -> None:
        self._sections = sections
        self._pending = dict(pending or {})
        self.sources = sources  # files that contributed, for messages

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._sections or name in self._pending:
            return self.section(name)
        raise AttributeError(name)

    def section(self, name: str) -> Any:
        if name not in self._sections and name in self._pending:
            loader, values = self._pending.pop(name)
            cls = loader()
            _check_keys(cls, name, values)
            self._sections[name] = _build(cls, values, name)
        return self._sections[name]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (sent to a job worker) with every section built: the loaders stay behind."""
        return {"_sections": {name: self.section(name) for name in self.names()}, "_pending": {},
                "sources": self.sources}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def names(self) -> list[str]:
        return [*self._sections, *self._pending]

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(self.section(name)) for name in self.names()}

    def with_values(self, changes: dict[str, Any]) -> "Config":
        """A copy with ``{"section.key": value}`` replaced (values a command sets, not the user)."""
        sections = dict(self._sections)
        for dotted, value in changes.items():
            name, key = dotted.split(".", 1)
            sections[name] = dataclasses.replace(sections.get(name) or self.section(name), **{key: value})
        pending = {name: entry for name, entry in self._pending.items() if name not in sections}
        return Config(sections, self.sources, pending)


def load_config(schema: Mapping[str, SectionType], user_file: str | Path | None = None,
                overrides: list[str] | None = None, defaults_file: Path | None = None,
                stage_names: Collection[str] = (), profile: Mapping[str, Mapping[str, Any]] | None = None,
                profile_name: str = "profile") -> Config:
    """Defaults <- ``defaults_file`` <- ``profile`` <- ``user_file`` <- ``--set`` overrides, validated
    against ``schema``.

    ``profile`` is a command's own defaults (``facepipe live`` trades some landmark and detection care
    for speed): it beats the repository defaults but never the user's file or ``--set``.

    ``stage_names`` are the stages ``[pipeline] stages`` may list. A schema entry given as a function
    (a stage's table, whose module imports numpy) is resolved only when the user's file or a ``--set``
    names that table, or when ``pipeline.stages`` runs that stage; otherwise it waits, unbuilt, until the
    run asks for it. The repository's defaults file is generated from the schema (a test keeps it in
    step), so deferring its check loses nothing, and a stage-less convert starts ~0.15 s sooner.
    """
    raw: dict[str, RawTable] = {name: {} for name in schema}
    types: dict[str, type] = {name: cls for name, cls in schema.items() if isinstance(cls, type)}

    def resolved(section: str, origin: str) -> type:
        if section not in schema:
            raise FacepipeError(f"{origin}: unknown table [{section}] (known: {', '.join(sorted(schema))})")
        if section not in types:
            types[section] = schema[section]()  # type: ignore[operator]
            _check_keys(types[section], section, raw[section])
        return types[section]

    sources: list[str] = []
    if defaults_file is not None and defaults_file.is_file():
        sources.append(str(defaults_file))
        for section, table in _read_toml(defaults_file).items():
            if section in schema and section not in types and isinstance(table, dict):
                raw[section].update({key: (value, str(defaults_file)) for key, value in table.items()})
            else:
                _merge_table(raw, resolved(section, str(defaults_file)), section, table, str(defaults_file))
    for section, table in (profile or {}).items():
        _merge_table(raw, resolved(section, profile_name), section, dict(table), profile_name)
    if user_file is not None:
        path = Path(user_file)
        if not path.is_file():
            raise FacepipeError(f"config file not found: {path}")
        sources.append(str(path))
        for section, table in _read_toml(path).items():
            _merge_table(raw, resolved(section, str(path)), section, table, str(path))
    for item in overrides or []:
        section, key, value = _parse_override(item)
        _merge_table(raw, resolved(section, "--set"), section, {key: value}, "--set")
    pipeline_section = _build(types["pipeline"], raw["pipeline"], "pipeline") if "pipeline" in types else None
    if pipeline_section is not None:
        origin = raw["pipeline"].get("stages", (None, "defaults"))[1]
        _check_stage_names(pipeline_section.stages, stage_names, origin)
        check_device_name(pipeline_section.device, raw["pipeline"].get("device", (None, "defaults"))[1] + ": pipeline.device")
        for name in pipeline_section.stages:
            if name in schema:
                resolved(name, "pipeline.stages")
    sections = {name: pipeline_section if name == "pipeline" else _build(cls, raw[name], name)
                for name, cls in types.items()}
    pending = {name: (loader, raw[name]) for name, loader in schema.items() if name not in types}
    return Config(sections, sources, pending)  # type: ignore[arg-type]


def _check_keys(cls: type, section: str, values: RawTable) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    for key, (_, origin) in values.items():
        if key not in names:
            raise FacepipeError(f"{origin}: unknown key {section}.{key} (known: {', '.join(sorted(names))})")


def _check_stage_names(names: list[str], known: Collection[str], origin: str) -> None:
    for name in names:
        if name not in known:
            raise FacepipeError(f"{origin}: pipeline.stages: unknown stage {name!r} (known: {', '.join(known) or 'none'})")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise FacepipeError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition; a Latin-1 file is a user's fix
        raise FacepipeError(f"{path}: not valid TOML: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise FacepipeError(f"{path}: cannot read: {exc.strerror}") from None


def _merge_table(raw: dict[str, RawTable], cls: type, section: str, table: Any, origin: str) -> None:
    if not isinstance(table, dict):
        raise FacepipeError(f"{origin}: [{section}] must be a table of keys, not a value")
    values = {key: (value, origin) for key, value in table.items()}
    _check_keys(cls, section, values)
    raw[section].update(values)


def _parse_override(item: str) -> tuple[str, str, Any]:
    """``section.key=value``; the value is read as TOML, else taken as a plain string."""
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise FacepipeError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. encode.crf=20")
    dotted, text = item.split("=", 1)
    section, key = dotted.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return section, key.strip(), value


def _build(cls: type, values: dict[str, tuple[Any, str]], section: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value, origin = values[f.name]
        kwargs[f.name] = check_value(f, hints[f.name], value, f"{origin}: {section}.{f.name}")
    return cls(**kwargs)


def check_value(f: dataclasses.Field, hint: Any, value: Any, where: str) -> Any:
    """Coerce and check one value against its type hint and the field's bounds."""
    value = _check_type(hint, value, where)
    meta = f.metadata
    items = value if isinstance(value, list) else [value]
    for item in items:
        if meta.get("choices") is not None and item not in meta["choices"]:
            allowed = ", ".join(repr(c) for c in meta["choices"])
            raise FacepipeError(f"{where} = {item!r}: must be one of {allowed}")
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            low, high = meta.get("min"), meta.get("max")
            if (low is not None and item < low) or (high is not None and item > high):
                raise FacepipeError(f"{where} = {item!r}: must be between {low} and {high}")
    return value


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _check_type(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option_hint in options:
            if option_hint is type(None):
                continue
            try:
                return _check_type(option_hint, value, where)
            except FacepipeError:
                continue
        raise FacepipeError(f"{where} = {value!r}: expected {_type_name(hint)}")
    if origin is list:
        (item_hint,) = typing.get_args(hint) or (Any,)
        if not isinstance(value, list):
            raise FacepipeError(f"{where} = {value!r}: expected a list")
        return [_check_type(item_hint, item, where) for item in value]
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise FacepipeError(f"{where} = {value!r}: expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FacepipeError(f"{where} = {value!r}: expected a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FacepipeError(f"{where} = {value!r}: expected a number")
        if math.isnan(value):  # NaN passes every bound check (all comparisons are False): refuse it here
            raise FacepipeError(f"{where} = nan: expected a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise FacepipeError(f"{where} = {value!r}: expected a string")
        return value
    raise FacepipeError(f"{where}: unsupported config type {_type_name(hint)}")
