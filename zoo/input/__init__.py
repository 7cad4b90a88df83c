"""The input path: from a video on disk to the frames an entry's views are built from.

- ``source``: what every reader shares (:class:`~zoo.input.source.VideoReadError`,
  :class:`~zoo.input.source.VideoInfo`, video file types); no PyAV.
- ``video``: one PyAV decode per video for all views, frames picked by the entry's clip rule;
  :func:`~zoo.input.video.read_views` (files and frame folders) is the entry point.
- ``frames``: frame-folder videos (JPEG/PNG), as PyTorchVideo's ``FrameVideo`` reads them.
- ``keyframes``: AVA's test input, each keyframe's clip and person boxes.

Views themselves (scaling, crops, normalisation, pathways) are :mod:`zoo.transforms`. This
package imports within ``zoo`` only (``source`` and ``transforms`` and the catalogue); the
harness reads every video through it. Importing the package imports none of its modules, so
``import zoo`` does not load PyAV.
"""
