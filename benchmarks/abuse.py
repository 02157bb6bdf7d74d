"""Replay the hostile-input corpus (tests/abuse_corpus.py) against cnn_core and measure what each input costs.

Run: OMP_NUM_THREADS=1 python benchmarks/abuse.py [--only SUBSTRING]

Each input runs in its own forked child process (torch, cnn_core and the meta-device kernels are
loaded and warmed in the parent first, so imports are not counted). In the child the kernel's
peak-RSS mark is reset (write 5 to /proc/self/clear_refs), the input is made, the RSS noted, then
cnn_core handles it; the peak RSS (VmHWM) minus that starting RSS is the extra memory the input
cost. Printed per input: outcome (refused with the error class, ACCEPTED, or TRACEBACK with the
exception), extra RSS and seconds; then one line

    abuse: N inputs, T tracebacks, max extra RSS X MiB

Goal: 0 tracebacks (a refusal is a PlaygroundError) and max extra RSS <= 300 MiB.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.errors import PlaygroundError  # noqa: E402
from tests.abuse_corpus import Case, all_cases  # noqa: E402


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _child(case: Case, pipe) -> None:
    data = case.make()
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    start_kib = _status_kib("VmRSS")
    began = time.perf_counter()
    try:
        case.act(data)
        outcome = "ACCEPTED (should have been refused)"
    except PlaygroundError as exc:
        outcome = f"refused {type(exc).__name__}: {str(exc)[:110]}"
    except BaseException as exc:  # noqa: BLE001 - the point is to count them
        outcome = f"TRACEBACK {type(exc).__name__}: {str(exc)[:110]}"
        traceback.print_exc(limit=3)
    seconds = time.perf_counter() - began
    pipe.send((outcome, (_status_kib("VmHWM") - start_kib) / 1024, seconds))


def _warm_up() -> None:
    """Load what every case uses so the children inherit it (the first meta-device op imports a lot)."""
    from cnn_core.models import LENET5_SPECS, ModelOptions, build_from_specs
    from cnn_core.training.budget import check_run
    from cnn_core.training.config import TrainConfig

    build_from_specs(LENET5_SPECS, (1, 28, 28))
    check_run(TrainConfig(model="custom", model_options=ModelOptions(layers=LENET5_SPECS)))


def main() -> None:
    """Run every case in a child; print outcomes, then the summary line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args()
    _warm_up()
    context = mp.get_context("fork")
    cases = [c for c in all_cases() if args.only in c.name]
    tracebacks, worst = 0, 0.0
    for case in cases:
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(case, send))
        child.start()
        send.close()
        try:
            outcome, extra_mib, seconds = receive.recv()
        except EOFError:  # the child died (killed for memory, segfault): the worst outcome
            outcome, extra_mib, seconds = "TRACEBACK child process died", float("nan"), float("nan")
        child.join()
        if not outcome.startswith("refused"):
            tracebacks += 1
        worst = max(worst, extra_mib) if extra_mib == extra_mib else worst
        print(f"{case.name:55s} {extra_mib:7.1f} MiB {seconds:6.2f} s  {outcome}", flush=True)
    print(f"abuse: {len(cases)} inputs, {tracebacks} tracebacks, max extra RSS {worst:.0f} MiB")


if __name__ == "__main__":
    main()
