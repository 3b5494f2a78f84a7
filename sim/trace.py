"""Forward layers of a torch model as `Layer`s (lowbit.sim.training), traced with forward hooks on one example
input: every nn.Linear (including lowbit's QLinear subclasses) and every nn.Conv1d/2d/3d (QConv2d) becomes
its im2col GEMM shape (SCALE-Sim's convention, Samajdar et al. ISPASS 2020). Feed the result to
`training_step(layers, formats, optimizer)` to price one training step without running the backward pass.
Attention products that are not modules (matmul inside forward) are not seen: add them with `matmul(...)`.
"""
from __future__ import annotations

import math

from .training import Layer, linear

__all__ = ["trace_layers"]


def trace_layers(model, example_input) -> list:
    """Layers in call order; a module called several times appears once per call (name#i)."""
    import torch
    layers, handles, calls = [], [], {}

    def hook(name):
        def fn(mod, inputs, output):
            x = inputs[0]
            i = calls[name] = calls.get(name, -1) + 1
            tag = name if i == 0 else f"{name}#{i}"
            if isinstance(mod, torch.nn.Linear):
                rows = math.prod(x.shape[:-1])
                layers.append(linear(tag, rows, mod.in_features, mod.out_features))
            else:   # the im2col GEMM, from the output shape torch computed (any padding mode)
                g = mod.groups
                layers.append(Layer(tag, x.shape[0] * math.prod(output.shape[2:]), mod.out_channels // g,
                                    mod.in_channels // g * math.prod(mod.kernel_size), g))
        return fn

    for name, mod in model.named_modules():
        if isinstance(mod, (torch.nn.Linear, torch.nn.modules.conv._ConvNd)) and not isinstance(
                mod, torch.nn.modules.conv._ConvTransposeNd):
            handles.append(mod.register_forward_hook(hook(name or type(mod).__name__)))
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        for h in handles:
            h.remove()
    if not layers:
        raise ValueError("trace_layers: the model called no nn.Linear or nn.Conv layer")
    return layers
