"""Deployment: a zoo model as a file for a runtime, and that file run back as a model.

- ``layout``: a one-video clip kept as frames through the exported graph, one batch of frames
  or one tensor per frame, so that XNNPACK runs 2D operators without transposes;
- ``rewrite``: 3D convolutions and pools as 2D ones, on any exported graph (ExecuTorch's
  XNNPACK has no 3D kernels), for what the layout leaves;
- ``export``: :func:`zoo.export` (ONNX Runtime or ExecuTorch, fp32 or int8 calibrated on the
  entry's own test views), with a manifest beside the file;
- ``xnnpack``: ExecuTorch's XNNPACK quantizer and partitioner with int8 Swish;
- ``artifact``: the manifest (sha256-checked) and :class:`~zoo.deploy.artifact.ArtifactModel`,
  which runs a file like the eager model, for the evaluation and predict.

The library's top layer, beside ``prediction``: it builds on the factory, the fast paths'
BN folding, the input path (calibration and check clips) and scoring. The runtimes (``onnx``,
``onnxruntime``, ``onnxscript``, ``executorch``) are the optional extra ``videozoo[deploy]``,
imported only when a file is written or run.
"""

import logging


class _TorchaoEnumNotice(logging.Filter):
    """Drops torch's deprecation notice about torchao's ``KernelPreference`` enum.

    ``executorch`` imports ``torchao``, whose enum registration makes torch log, once per
    process, a warning addressed to torchao's developers ("... is an Enum subclass and is now
    natively supported by torch.compile ..."). Our users can do nothing about it; every other
    message of that logger still shows.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("KernelPreference" in message and "register_constant" in message)


logging.getLogger("torch.utils._pytree").addFilter(_TorchaoEnumNotice())
