"""The core's registries as Python reads them: one per family (activations, losses,
optimizers, schedules, metrics), each entry with its name, aliases, parameters (defaults and
valid ranges) and properties, read from ``_core`` once at import (the values' types are
converted to the core's numbers by ``_checks.core_params``).

The family modules build their classes, defaults, name lists and messages from these entries
instead of repeating them; a built-in added to the core without a Python class of its own gets
one generated from its entry (:func:`generated_class`). Values are checked by the core (which
names the entry and the parameter); Python converts types and adds Python-specific hints.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Mapping, NamedTuple, Tuple

from . import _core
from ._checks import core_params


class Param(NamedTuple):
    """One parameter of an entry, as the core describes it."""

    name: str
    #: The name messages use ("betas[0]" for Adam's beta1).
    label: str
    #: "real", "integer" or "flag".
    kind: str
    #: The default as Python takes it (float, int or bool); None when there is none.
    default: Any
    #: No default and must be given.
    required: bool
    #: What a valid value is: "a finite number >= 0", "an integer >= 1", ...
    range: str

    def from_core(self, value: float) -> Any:
        """A number of the core as Python shows it (int, bool or float)."""
        if self.kind == "flag":
            return bool(value)
        if self.kind == "integer":
            return int(value)
        return float(value)


class Entry:
    """A registry entry: ``name``, ``class_name``, ``doc``, ``aliases``, ``params`` and
    ``properties`` (``{"he_init": True}``, an optimizer's default ``"lr"``, ...)."""

    def __init__(self, family: "Family", data: Dict[str, Any]) -> None:
        self.family = family
        self.name: str = data["name"]
        self.class_name: str = data["class_name"]
        self.doc: str = data["doc"]
        self.aliases: Tuple[str, ...] = tuple(data["aliases"])
        params = []
        for p in data["params"]:
            param = Param(p["name"], p["label"], p["kind"], None, p["required"], p["range"])
            if p["default"] is not None:
                param = param._replace(default=param.from_core(p["default"]))
            params.append(param)
        self.params: Tuple[Param, ...] = tuple(params)
        self.properties: Dict[str, Any] = dict(data["properties"])

    def __repr__(self) -> str:
        return f"<{self.family.noun} {self.name!r} ({self.class_name})>"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.family.noun} {self.name!r} has no parameter {name!r}")

    def defaults(self) -> Dict[str, Any]:
        """The parameters that have a default, with it."""
        return {p.name: p.default for p in self.params if p.default is not None}

    def check(self, core_params: Mapping[str, float]) -> None:
        """Builds the entry in the core and drops it: ValueError naming what is wrong."""
        _core.registry_check(self.family.key, self.name, dict(core_params))

    def check_value(self, param: str, value: float, shown_as: str) -> None:
        """Checks one number (as the core takes it) against the range of ``param``; the
        message calls it ``shown_as`` (scikit-learn's ``alpha``, ...)."""
        _core.registry_check_value(self.family.key, self.name, param, value, shown_as)

    def signature(self, first: Tuple[Tuple[str, Any], ...] = ()) -> inspect.Signature:
        """The constructor signature of a class made from this entry: ``first`` (name, default)
        pairs, then every parameter with its default (None when it has none)."""
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params = [inspect.Parameter(n, kind, default=d) for n, d in first]
        params += [
            inspect.Parameter(p.name, kind, default=p.default)
            if not p.required
            else inspect.Parameter(p.name, kind)
            for p in self.params
        ]
        return inspect.Signature(params)


class Family(Mapping[str, Entry]):
    """The entries of one family by name (aliases too); iterates the factory names, sorted."""

    def __init__(self, key: str, noun: str) -> None:
        self.key = key
        #: The word messages use ("activation", "lr_schedule").
        self.noun = noun
        self._entries = [Entry(self, d) for d in _core.registry_entries(key)]
        self._by_name = {n: e for e in self._entries for n in (e.name,) + e.aliases}

    def __getitem__(self, name: str) -> Entry:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return (e.name for e in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> List[Entry]:
        return list(self._entries)

    def names(self, with_aliases: bool = False) -> List[str]:
        """The factory names (and aliases), sorted."""
        return list(_core.registry_names(self.key, with_aliases))

    def lookup(self, name: str) -> Entry:
        """The entry of a name or alias; the core's ValueError ("unknown activation 'x'; valid
        names: ...") otherwise."""
        entry = self._by_name.get(name) if isinstance(name, str) else None
        if entry is None:
            return self[_core.registry_lookup(self.key, name)]  # raises, naming the valid names
        return entry

    def with_property(self, key: str) -> List[str]:
        """The names of the entries whose property ``key`` is true."""
        return [e.name for e in self._entries if e.properties.get(key) is True]


ACTIVATIONS = Family("activations", "activation")
LOSSES = Family("losses", "loss")
OPTIMIZERS = Family("optimizers", "optimizer")
SCHEDULES = Family("schedules", "lr_schedule")
METRICS = Family("metrics", "metric")
LAYERS = Family("layers", "layer")


def generated_class(entry: Entry, base: type, module: str, **namespace: Any) -> type:
    """A class for an entry that has none written by hand: named ``entry.class_name``, derived
    from ``base`` (which takes the entry through ``__init_subclass__(entry=...)``), documented
    with the entry's formula, in ``module`` so that pickle finds it."""
    namespace.setdefault(
        "__doc__", f"``{entry.doc}`` (the core's {entry.family.noun} {entry.name!r})."
    )
    namespace["__module__"] = module
    namespace["__qualname__"] = entry.class_name
    return type(entry.class_name, (base,), namespace, entry=entry.name)


def bind(
    signature: inspect.Signature, owner: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]
) -> Dict[str, Any]:
    """The arguments of a generated constructor by name, defaults applied (TypeError as a
    ``def`` with this signature would raise)."""
    params = signature.parameters
    if (
        not args
        and all(k in params for k in kwargs)
        and all(k in kwargs or p.default is not p.empty for k, p in params.items())
    ):
        # keywords only, all known and nothing required missing: the common case, without
        # Signature.bind's cost
        return {k: kwargs[k] if k in kwargs else p.default for k, p in params.items()}
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{owner}(): {exc}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def export(
    module_globals: Dict[str, Any],
    all_names: List[str],
    classes: Dict[str, type],
    make: Callable[[Entry], type],
    family: Family,
) -> None:
    """Adds to a module a generated class for every entry of ``family`` that has no class in
    ``classes`` (factory name -> class), and lists it in the module's ``__all__``."""
    for entry in family.entries():
        if entry.name not in classes:
            cls = make(entry)
            classes[entry.name] = cls
            module_globals[cls.__name__] = cls
            all_names.append(cls.__name__)


@functools.lru_cache(maxsize=None)
def _none_means_default(cls: type) -> frozenset:
    """The parameters a class's own constructor declares with the default None (a written
    class: ``def __init__(self, alpha: Optional[float] = None)``), where None stands for the
    registry's default; a generated class shows the registry's defaults themselves."""
    try:
        params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    except (TypeError, ValueError):  # pragma: no cover - a builtin __init__
        return frozenset()
    return frozenset(n for n, p in params.items() if p.default is None)


class EntryBacked:
    """The base of a built-in configuration class made from a registry entry (an activation,
    a loss): ``class ReLU(_Builtin, entry="relu")`` takes the entry's parameters in its
    constructor (defaults from the registry, types converted here, values checked by the core)
    and keeps each as an attribute of its name. A family's base sets ``_family`` (its
    :class:`Family`) and ``_classes`` (factory name -> class, filled as classes are made)."""

    _family: ClassVar["Family"]
    _classes: ClassVar[Dict[str, type]]
    _entry: ClassVar[Entry]
    _core_name = ""
    _signature: ClassVar[inspect.Signature]

    def __init_subclass__(cls, entry: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if entry:
            cls._entry = cls._family[entry]
            cls._core_name = cls._entry.name
            cls._signature = cls._entry.signature()
            if "__init__" not in cls.__dict__:  # generated: show the entry's parameters
                cls.__signature__ = cls._signature  # type: ignore[attr-defined]
            cls._classes[cls._core_name] = cls

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_held", False):
            raise AttributeError(
                f"{self!r}: a network was built with it, and the network's core keeps its own "
                f"copy of the parameters, which would not follow: {name} cannot change. Build "
                f"a new {type(self).__name__}(...) and a network with it"
            )
        super().__setattr__(name, value)

    def _set_params(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        """The constructor's arguments bound to the entry's parameters, converted, checked by
        the core and kept as attributes."""
        if not (args or kwargs or self._entry.params):
            return  # nothing to convert or check
        owner = type(self).__name__
        values = bind(self._signature, owner, args, kwargs)  # (defaults: the registry's)
        optional = _none_means_default(type(self))
        for p in self._entry.params:
            if values.get(p.name) is not None:
                continue
            if p.name in optional:  # ``alpha: Optional[float] = None``: the registry's default
                values[p.name] = p.default
                continue
            # elsewhere None is no number: torch's BatchNorm1d(momentum=None) is a cumulative
            # average, which taking the default instead would silently replace
            raise TypeError(
                f"{owner}: {p.name} must be {p.range}, got None"
                + ("" if p.required else f" (its default is {p.default!r})")
            )
        core = core_params(self._entry, values, owner)  # types here, values in the core
        self._entry.check(core)
        for p in self._entry.params:
            setattr(self, p.name, p.from_core(core[p.name]) if p.name in core else None)

    def get_params(self) -> Dict[str, Any]:
        """The parameters by name (``{"alpha": 0.01}``)."""
        return {p.name: getattr(self, p.name) for p in self._entry.params}

    @property
    def core_name(self) -> str:
        """The entry's factory name, as the core's specs name it."""
        return self._core_name

    def core_values(self) -> Dict[str, float]:
        """The parameters as the core's factory takes them (numbers by name)."""
        return core_params(self._entry, self.get_params(), type(self).__name__)


def hold(config: Any) -> None:
    """Marks a built-in configuration (an activation, a loss, a layer) that a network was built
    from: its attributes are then fixed, as the core's copy of its parameters is (an edit would
    change what repr, save and pickle record but not what the network computes). Anything else
    is left as it is: a user's own activation or loss runs its Python code, edits included."""
    if isinstance(config, EntryBacked):
        object.__setattr__(config, "_held", True)
