"""Names: Keras's CamelCase-to-snake_case rule, for automatic layer, loss and metric names."""

import re


def snake_case(name):
    """``"SparseCategoricalCrossentropy"`` -> ``"sparse_categorical_crossentropy"``.

    Keras's rule: a capital starting a run of lowercase letters or digits gets an underscore
    before it, and so does a capital right after a lowercase letter (``ReLU`` -> ``re_lu``,
    ``AUCMetric`` -> ``auc_metric``); a capital after a digit does not (``Conv2D`` ->
    ``conv2d``, ``MaxPooling2D`` -> ``max_pooling2d``).

    >>> snake_case("LeakyReLU"), snake_case("AUCMetric"), snake_case("Conv2DTranspose")
    ('leaky_re_lu', 'auc_metric', 'conv2d_transpose')
    """
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
