"""`lowbit recipes`: every recipe of lowbit.recipes (src/recipes/: builtin.py, lns.py) with its formats."""
from __future__ import annotations

import json


def run(args) -> int:
    from lowbit.recipes import get_recipe, list_recipes, recipe_to_dict
    names = args.name or list_recipes()
    recipes = [get_recipe(n) for n in names]
    if args.json:
        print(json.dumps([recipe_to_dict(r) for r in recipes], indent=1))
        return 0
    print(f"{'recipe':<18} {'weight':<20} {'input':<20} {'grad_output':<18} {'optimizer':<26} {'bits/w':>6}  datapath")
    for r in recipes:
        o = r.optimizer
        opt = o.name + ("" if o.weight_format is None else f" w:{o.weight_format}") + \
            (" kahan" if o.kahan else "") + (" eco" if o.eco else "") + (" sr" if o.rounding == "stochastic" else "")
        print(f"{r.name:<18} {r.weight.short():<20} {r.input.short():<20} {r.grad_output.short():<18} {opt:<26} "
              f"{r.bits_per_weight:>6.2f}  {r.datapath}")
        if args.verbose and r.description:
            print(f"    {r.description}")
    return 0


def register(sub):
    p = sub.add_parser("recipes", help="list the training recipes (formats per tensor class, optimizer, datapath)")
    p.add_argument("name", nargs="*", help="only these recipes")
    p.add_argument("--json", action="store_true", help="every field, machine-readable")
    p.add_argument("-v", "--verbose", action="store_true", help="with descriptions")
    p.set_defaults(func=run)
