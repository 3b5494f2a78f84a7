"""lowbit.recipes: named training recipes (frozen values, not subclasses; docs/design.md "src").

Public API: `get_recipe(name_or_dict)`, `list_recipes()`, `register_recipe(recipe, replace=False)`,
`resolve_recipe(entry)` (a name, a Recipe, or a mapping `{base: NAME, ...overrides}` from YAML), the value
types `Recipe`, `QuantSpec`, `AccSpec`, `OptimSpec`, and `recipe_from_dict` / `recipe_to_dict`.

Other areas plug their recipes in with `register_recipe` at import of their package; the modules listed
in `PLUGIN_MODULES` are imported (if present) before the registry is first read, so `lowbit recipes`
and `lowbit run` see them (e.g. the LNS helper's `lns_madam`, registered from `lowbit.optim`).
"""
from __future__ import annotations

import importlib

from .builtin import builtin_recipes
from .spec import (AccSpec, OptimSpec, QuantSpec, Recipe, TENSOR_CLASSES, recipe_from_dict, recipe_to_dict,
                   spec_from_dict)

__all__ = ["get_recipe", "list_recipes", "register_recipe", "resolve_recipe", "Recipe", "QuantSpec", "AccSpec",
           "OptimSpec", "TENSOR_CLASSES", "recipe_from_dict", "recipe_to_dict", "spec_from_dict", "PLUGIN_MODULES"]

PLUGIN_MODULES = ["lowbit.optim", "lowbit.analog"]
_REGISTRY: dict[str, Recipe] = {}
_plugins_loaded = False


def register_recipe(recipe: Recipe, replace: bool = False) -> Recipe:
    if not isinstance(recipe, Recipe):
        raise ValueError(f"register_recipe: expected a Recipe, got {type(recipe).__name__}")
    old = _REGISTRY.get(recipe.name)
    if old is not None and old != recipe and not replace:
        raise ValueError(f"recipe name {recipe.name!r} is already registered (pass replace=True)")
    _REGISTRY[recipe.name] = recipe
    return recipe


def _load_plugins():
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for mod in PLUGIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:   # the plugin exists but is broken: say so
                raise


def list_recipes() -> list[str]:
    _load_plugins()
    return list(_REGISTRY)


def get_recipe(name) -> Recipe:
    """The registered recipe `name` (a Recipe passes through)."""
    if isinstance(name, Recipe):
        return name
    if not isinstance(name, str):
        raise ValueError(f"recipe must be a name or a Recipe, got {type(name).__name__}")
    _load_plugins()
    if name not in _REGISTRY:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def resolve_recipe(entry, owner: str = "recipe") -> Recipe:
    """A recipe from a name, a Recipe, or a YAML mapping `{base: fp8, name: fp8_lr, optimizer: {lr: 0.01}}`
    (without `base`, the mapping defines a new recipe from the defaults)."""
    if isinstance(entry, (str, Recipe)):
        return get_recipe(entry)
    if not isinstance(entry, dict):
        raise ValueError(f"{owner}: expected a recipe name or mapping, got {entry!r}")
    entry = dict(entry)
    base = entry.pop("base", None)
    if base is not None:
        b = get_recipe(base)
        entry.setdefault("name", b.name if len(entry) == 0 else f"{b.name}*")
        return recipe_from_dict(entry, base=b, owner=f"{owner} (base {base})")
    return recipe_from_dict(entry, owner=owner)


for _r in builtin_recipes():
    register_recipe(_r)
