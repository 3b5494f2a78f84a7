"""The training tests run many small quantize calls: if the numerics fast path is pathologically slow on
this machine (a dispatch regression), use numerics' bit-identical numpy reference for them."""
from lowbit.train.sweep import check_fast_path

_note = check_fast_path()
if _note:
    print(_note)
