"""AVA v2.2 action detection: its files, its keyframe input, its evaluation.

AVA is scored per person box on keyframes, not per video, so its pipeline is its own:

- :mod:`benchmarks.ava.annotations`: the dataset's files (ground truth, predicted person boxes,
  detections, label map, excluded timestamps);
- :mod:`zoo.input.keyframes` (in the library, as ``zoo.predict`` scores boxes too): each
  keyframe's clip and person boxes as the model sees them;
- :mod:`benchmarks.ava.evaluate`: run a detector on every keyframe, write detections, frame mAP.
"""
