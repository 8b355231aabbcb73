"""Quality on the phone through ``onnxruntime_perf_test`` itself, where its build can write outputs.

A release ``onnxruntime_perf_test`` reads inputs (``test_data_set_0/input_0.pb`` next to the model,
the onnx_test_runner layout) but never writes outputs. A build made with ``--cmake_extra_defines
onnxruntime_DEBUG_NODE_INPUTS_OUTPUTS=1`` writes each node's outputs as TensorProto files when
``ORT_DEBUG_NODE_IO_DUMP_OUTPUT_DATA=1`` and ``ORT_DEBUG_NODE_IO_DUMP_DATA_DESTINATION=files``
(``<ORT_DEBUG_NODE_IO_OUTPUT_DIR>/<tensor name, non-alphanumerics as _>.tensorproto``; names from
ORT's ``debug_node_inputs_outputs_utils``). Node names change with graph fusion and a compiling
provider (NNAPI) fuses whole partitions, so every node is dumped (the tool asks for
``ORT_DEBUG_NODE_IO_DUMPING_DATA_TO_FILES_FOR_ALL_NODES_IS_OK``) and the graph output's file is
kept. Each image runs at its own size (the model's free dimensions set with ``-f``), once per
image, on the delegate measured; for an accelerator the first image also runs on the CPU provider
and their agreement is stored. A build without the dump writes nothing: that is detected on the
first image and the host scores the artifact instead.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.errors import ArtifactError
from edgebench.native_tools import quality_failure
from edgebench.quality import agreement
from edgebench.transports import shell_join

from .native import dim_flags, output_name
from .perf_test import parse

FAIL, NO_DUMP = "@@EB-QUALITY-FAIL@@", "@@EB-QUALITY-NO-DUMP@@"
DUMP_ENV = {
    "ORT_DEBUG_NODE_IO_DUMP_OUTPUT_DATA": "1",
    "ORT_DEBUG_NODE_IO_DUMP_DATA_DESTINATION": "files",
    "ORT_DEBUG_NODE_IO_DUMPING_DATA_TO_FILES_FOR_ALL_NODES_IS_OK": "1",
    "ORT_DEBUG_NODE_IO_DUMP_SHAPE_DATA": "0",  # on by default: a line per node per run
    "ORT_DEBUG_NODE_IO_DUMP_NODE_PLACEMENT": "0",
}


def dump_file_name(tensor: str) -> str:
    """The file ORT's debug dump writes for a tensor (every non-alphanumeric character becomes _)."""
    return re.sub(r"[^A-Za-z0-9]", "_", tensor) + ".tensorproto"


def quality_on_device(job: Any, transport: Any, workdir: str, binary: str, model: str,
                      dims: list[tuple[str, int]], config: list[str]) -> tuple[list[np.ndarray] | None, dict]:
    """(the SR output of every quality image, {"agreement": ...}), or (None, {"reason": ...}) when this
    build writes no outputs."""
    from . import adapter_onnxruntime as adapter
    from .native import free_dims

    input_name, _ = free_dims(job.artifact.path)
    out_file = dump_file_name(output_name(job.artifact.path))
    images = [image if image.ndim == 4 else image[None] for image in job.quality_inputs]
    tensors = [adapter.prepare({"input": input_name}, image)[input_name] for image in images]
    run = _Run(transport, f"{workdir.rstrip('/')}/quality", binary, model, dims, config, job, out_file, input_name)
    raw = run.images(tensors, job.delegate)
    if raw is None:
        return None, {"reason": "this onnxruntime_perf_test writes no outputs (a build without "
                                "onnxruntime_DEBUG_NODE_INPUTS_OUTPUTS)"}
    outputs = [np.ascontiguousarray(adapter.finish(None, r)[0]) for r in raw]
    extra: dict[str, Any] = {}
    if job.delegate != "cpu":
        reference = run.images(tensors[:1], "cpu")
        if reference:
            extra["agreement"] = agreement(outputs[0], adapter.finish(None, reference[0])[0])
    return outputs, extra


class _Run:
    def __init__(self, transport: Any, qdir: str, binary: str, model: str, dims: list[tuple[str, int]],
                 config: list[str], job: Any, out_file: str, input_name: str):
        self.transport, self.dir, self.binary, self.model = transport, qdir, binary, model
        self.dims, self.config, self.job, self.out_file, self.input_name = dims, config, job, out_file, input_name
        self.timeout = float(job.settings.get("settings", {}).get("timeout", 900.0))

    def images(self, tensors: list[np.ndarray], delegate: str) -> list[np.ndarray] | None:
        import onnx
        from onnx import numpy_helper

        self.transport.run(["rm", "-rf", self.dir], timeout=60)
        self.transport.check_call(["mkdir", "-p", self.dir], timeout=60)
        steps = []
        with tempfile.TemporaryDirectory(prefix="edgebench-ort-quality-") as tmp:
            for i, tensor in enumerate(tensors):
                local = Path(tmp) / f"input_{i}.pb"
                local.write_bytes(numpy_helper.from_array(tensor, self.input_name).SerializeToString())
                case = f"img{i}"
                self.transport.check_call(["mkdir", "-p", f"{self.dir}/{case}/test_data_set_0", f"{self.dir}/{case}/dump"],
                                          timeout=60)
                self.transport.push(local, f"{self.dir}/{case}/test_data_set_0/input_0.pb")
                argv = [self.binary, "-e", delegate, "-m", "times", "-r", "1", "-x", str(self.job.threads or 0),
                        *dim_flags(self.dims, tensor.shape[2], tensor.shape[3]), *self.config, f"{case}/model.onnx"]
                env = " ".join(f"{k}={v}" for k, v in {**DUMP_ENV, "ORT_DEBUG_NODE_IO_OUTPUT_DIR": f"{case}/dump"}.items())
                argv = ["taskset", self.job.affinity, *argv] if self.job.affinity else argv
                steps.append(
                    f"ln -sf {shell_join([self.model])} {case}/model.onnx; "
                    f"{env} {shell_join(argv)} > {case}/log 2>&1; s=$?; "
                    f"if [ $s -ne 0 ]; then echo \"{FAIL} {i} $s\"; tail -n 15 {case}/log; exit 3; fi; "
                    f"if [ ! -s {case}/dump/{self.out_file} ]; then echo \"{NO_DUMP} {i}\"; exit 4; fi")
            script = f"cd {shell_join([self.dir])} || exit 2; " + "; ".join(steps)
            proc = self.transport.run(["sh", "-c", script], timeout=self.timeout)
            if NO_DUMP in (proc.stdout or ""):
                return None
            if proc.returncode != 0 or FAIL in (proc.stdout or ""):
                raise quality_failure(proc, FAIL, "onnxruntime_perf_test", delegate, parse)
            outputs = []
            for i in range(len(tensors)):
                local = Path(tmp) / f"output_{i}.tensorproto"
                self.transport.pull(f"{self.dir}/img{i}/dump/{self.out_file}", local)
                proto = onnx.TensorProto()
                try:
                    proto.ParseFromString(local.read_bytes())
                    outputs.append(numpy_helper.to_array(proto))
                except Exception as exc:
                    raise ArtifactError(f"onnxruntime_perf_test's dump of image {i} is not a TensorProto ({exc})") \
                        from None
        return outputs
