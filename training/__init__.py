"""The training recipe, with no Ray in it: model, data, loop, evaluation and checkpoints."""
