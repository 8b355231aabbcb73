"""What a ``.pte`` file hands to its delegates, counted on the host from the file itself.

ExecuTorch's native runners print nothing about delegation, so the share comes from the program:
each instruction of the method's chains is either a ``DelegateCall`` (a partition the backend
compiled, XNNPACK here) or a ``KernelCall`` of an operator that stays on ExecuTorch's own CPU
kernels (portable or optimized). The export's own count of graph nodes per partition, kept in the
artifact's metadata, is added where present.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


def pte_delegation(path: Path, method: str = "forward") -> dict[str, Any]:
    """{"delegate_calls": {backend: n}, "kernel_calls": n, "cpu_ops": {op: n}, "planned_bytes": n}."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(Path(path).read_bytes()).program
    plans = {plan.name: plan for plan in program.execution_plan}
    plan = plans.get(method) or program.execution_plan[0]
    delegates: Counter[str] = Counter()
    ops: Counter[str] = Counter()
    for chain in plan.chains:
        for instruction in chain.instructions:
            args = instruction.instr_args
            kind = type(args).__name__
            if kind == "DelegateCall":
                delegates[plan.delegates[args.delegate_index].id] += 1
            elif kind == "KernelCall":
                op = plan.operators[args.op_index]
                ops[f"{op.name}.{op.overload}" if op.overload else op.name] += 1
    return {"method": plan.name, "delegate_calls": dict(delegates), "kernel_calls": sum(ops.values()),
            "cpu_ops": dict(sorted(ops.items())), "planned_bytes": int(sum(plan.non_const_buffer_sizes))}


def runtime_fields(counted: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The result's runtime block: which backend took the graph, and how much of it stayed on the CPU."""
    calls = counted.get("delegate_calls") or {}
    kernels = int(counted.get("kernel_calls") or 0)
    backend = next(iter(calls), None)
    out: dict[str, Any] = {"runtime": "executor_runner", "delegate_name": backend, "partitions": sum(calls.values()),
                           "cpu_kernel_calls": kernels, "delegation_source": ".pte on the host"}
    if counted.get("cpu_ops"):
        out["fallback_ops"] = sorted(counted["cpu_ops"])
    delegated, total = meta.get("delegated_nodes"), meta.get("total_nodes")
    if not calls:
        out["delegation_kind"], out["delegation"] = "none", "no delegate call: every op on ExecuTorch's CPU kernels"
        return out
    out["delegation_kind"] = "full" if kernels == 0 else "partial"
    if delegated is not None and total:
        out.update(delegated_nodes=delegated, total_nodes=total)
    parts = sum(calls.values())
    where = f"in {parts} partition{'s' if parts != 1 else ''}"
    ops = ", ".join(sorted(counted.get("cpu_ops") or {}))
    out["delegation"] = (f"all but {kernels} op call(s) ({ops}) {where}" if kernels else f"every op {where}")
    return out
