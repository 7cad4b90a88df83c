"""videozoo harness: evaluation, complexity, tables. Imports zoo; zoo never imports it."""
