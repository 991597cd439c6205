"""Manipulation methods of a corpus: each turns a target video's faces into a source identity's.

A method is a class implementing :class:`Method`; a new method is one module and one line in
``METHODS``. The build makes one instance, calls ``prepare`` once, then puts ``card()`` in every
manifest line of its fakes; each fake's worker makes its own instance and calls only ``stage``, so
whatever that stage needs must travel in the job (:class:`pipeline.corpus.job.FakeSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pipeline.errors import FacepipeError
from pipeline.registry import Registry

if TYPE_CHECKING:
    from pipeline.corpus.job import FakeSpec
    from pipeline.stage import Stage

METHODS = Registry("corpus method", {
    "warp": "pipeline.corpus.methods.warp:WarpMethod",
    "gan": "pipeline.corpus.methods.gan:GanMethod",
    "bank": "pipeline.corpus.methods.bank:BankMethod",
}, setting="--methods")


@dataclass(frozen=True)
class MethodCard:
    """What the manifest says about a method's model: its folder and the checksum of its weights
    (both None for a method without a model). A re-run re-renders fakes made with another checksum."""

    model: str | None = None
    model_sha256: str | None = None


class BuildView(Protocol):
    """What ``prepare`` may use of the build (``pipeline.corpus.build.Build`` provides it; named here so
    that the methods need not import the build that imports them)."""

    corpus: Any  # the [corpus] settings
    config: Any  # the whole configuration ([train] for the gan's model)
    layout: Any  # the corpus's folders (pipeline.corpus.layout.Layout)
    with_faces: list[Any]  # the real videos that have faces, with their identities
    options: Any  # build options (``log``)


class Method(Protocol):
    """The contract of a corpus method."""

    name: ClassVar[str]  # its name in ``METHODS`` and ``--methods``
    folder: ClassVar[str]  # its ``manipulated_sequences/<folder>``, and the manifest's ``method``

    def prepare(self, build: BuildView) -> None:
        """Train or load what the method needs; called once per build, in the build process, before any
        fake is rendered (``gan`` trains its multi-identity model here, resumably)."""

    def stage(self, fake: FakeSpec) -> Stage:
        """The frame stage of one fake, built in the job's worker: it sets ``face.swapped`` and
        ``face.swapped_mask`` on the target's aligned faces; the blend stage then pastes them."""

    def card(self) -> MethodCard:
        """What goes in the manifest about the method's model; valid once ``prepare`` ran."""


def load_method(name: str) -> type[Method]:
    """The class registered as ``name``, refused in one line when it does not implement :class:`Method`
    (checked when the build starts, not when the first fake's worker calls the missing part)."""
    cls = METHODS.load(name)
    missing = [member for member in ("name", "folder") if not isinstance(getattr(cls, member, None), str)]
    missing += [member for member in ("prepare", "stage", "card") if not callable(getattr(cls, member, None))]
    if missing:
        raise FacepipeError(f"corpus method {name!r} ({cls.__module__}.{cls.__qualname__}) does not implement "
                            f"{', '.join(missing)} (see pipeline.corpus.methods.Method)")
    return cls


class ModelFree:
    """The part of :class:`Method` shared by methods that need no model (``warp``, ``bank``): nothing to
    prepare, and a card naming none."""

    def prepare(self, build: BuildView) -> None:
        pass

    def card(self) -> MethodCard:
        return MethodCard()
