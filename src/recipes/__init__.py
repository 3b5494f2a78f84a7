"""lowbit.recipes: named training recipes (frozen values, not subclasses; docs/design.md "src").

Public API: `get_recipe(name_or_dict)`, `list_recipes()`, `register_recipe(recipe, replace=False)` (a
user's own recipe), `resolve_recipe(entry)` (a name, a Recipe, or a mapping `{base: NAME, ...overrides}`
from YAML), the value types `Recipe`, `QuantSpec`, `AccSpec`, `OptimSpec`, and `recipe_from_dict` /
`recipe_to_dict`.

Every built-in recipe is defined in this package and listed here, in `RECIPE_SOURCES` (the order of
`lowbit recipes`): builtin.py (fp32, bf16, fp8, MX, fp4, int, ternary, ECO) and lns.py (LNS-Madam).
"""
from __future__ import annotations

from .builtin import builtin_recipes
from .lns import lns_recipes
from .spec import (AccSpec, OptimSpec, QuantSpec, Recipe, TENSOR_CLASSES, recipe_from_dict, recipe_to_dict,
                   spec_from_dict)

__all__ = ["get_recipe", "list_recipes", "register_recipe", "resolve_recipe", "Recipe", "QuantSpec", "AccSpec",
           "OptimSpec", "TENSOR_CLASSES", "recipe_from_dict", "recipe_to_dict", "spec_from_dict", "RECIPE_SOURCES"]

RECIPE_SOURCES = (builtin_recipes, lns_recipes)
_REGISTRY: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe, replace: bool = False) -> Recipe:
    if not isinstance(recipe, Recipe):
        raise ValueError(f"register_recipe: expected a Recipe, got {type(recipe).__name__}")
    old = _REGISTRY.get(recipe.name)
    if old is not None and old != recipe and not replace:
        raise ValueError(f"recipe name {recipe.name!r} is already registered (pass replace=True)")
    _REGISTRY[recipe.name] = recipe
    return recipe


def list_recipes() -> list[str]:
    return list(_REGISTRY)


def get_recipe(name) -> Recipe:
    """The registered recipe `name` (a Recipe passes through)."""
    if isinstance(name, Recipe):
        return name
    if not isinstance(name, str):
        raise ValueError(f"recipe must be a name or a Recipe, got {type(name).__name__}")
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


for _source in RECIPE_SOURCES:
    for _r in _source():
        register_recipe(_r)
