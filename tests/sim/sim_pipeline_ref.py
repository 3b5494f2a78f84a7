"""The double-buffered pipeline recurrence of sim/_kernel.py written out literally, fold by fold: no state
normalization, no jumping over repeated folds. The kernel must agree with it exactly."""
from lowbit.sim import _kernel as K


def reference_pipeline(p, fold_io=K.fold_io):
    """`fold_io` may be the plain-Python K.fold_io.py_func to run over Python ints (huge shapes)."""
    FR, FC, bw, lf = int(p[K.P_FR]), int(p[K.P_FC]), int(p[K.P_BW]), int(p[K.P_LF])

    def cd(a):
        return -(-a // bw)

    io = [tuple(int(v) for v in fold_io(p, fc, fr)) for fc in range(FC) for fr in range(FR)]
    pre = cd(io[0][0])
    start = chan = pre
    end = pre + lf
    writes = []
    if io[0][1]:
        chan = pre + cd(io[0][1])
        end = max(end, chan)
    for i in range(1, len(io)):
        rd, st, _, dep = io[i]
        wprev = io[i - 1][2]
        if dep:                      # psum read-back waits for the previous fold's write
            chan = max(chan, end) + cd(wprev)
            if wprev:
                writes.append(chan)
        chan = max(chan, start) + cd(rd)
        ns = max(end, chan, writes[-2] if len(writes) >= 2 else 0)
        if not dep:
            chan = max(chan, end) + cd(wprev)
            if wprev:
                writes.append(chan)
        ne = ns + lf
        if st:
            chan = max(chan, ns) + cd(st)
            ne = max(ne, chan)
        start, end = ns, ne
    done = max(chan, end) + cd(io[-1][2])
    return pre, end - pre, done - end
