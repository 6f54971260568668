"""Beyond Sequential: the functional API, a subclassed model, and a model inside a model.

Three programs as Keras users write them (only the import line differs from Keras):

1. a functional model with two inputs (the image, and a small "tabular" vector of its row
   intensities) joined by ``concatenate``, and two outputs (the digit, and whether it is
   even), trained with a loss and a metric per output;
2. a subclassed ``keras.Model`` built from the keras.io subclassing guide's ``Linear``
   layer (``build`` + ``add_weight`` + ``call``);
3. the TensorFlow quickstart: a model that outputs logits, trained with
   ``from_logits=True``, then wrapped with ``keras.Sequential([model, Softmax()])`` to
   output probabilities.

Run:  python examples/08_functional_and_subclassing.py            (full MNIST, 2 epochs each)
      python examples/08_functional_and_subclassing.py --quick    (a subset, seconds)

MNIST is found through MINIDL_DATA_DIR, ~/.minidl/datasets, Keras's cache, or downloaded.
"""

import argparse

import numpy as np

import minidl as keras
from minidl import layers


class Linear(keras.layers.Layer):
    """The keras.io guide's layer: y = x·w + b, its weights made in ``build``."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True, name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True,
                                 name="b")

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.w) + self.b


class MLP(keras.Model):
    """A subclassed model: layers made in ``__init__``, the forward pass in ``call``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flatten = layers.Flatten()
        self.hidden = Linear(64)
        self.dropout = layers.Dropout(0.2)
        self.classifier = Linear(10)

    def call(self, inputs, training=False):
        x = keras.activations.relu(self.hidden(self.flatten(inputs)))
        x = self.dropout(x, training=training)
        return keras.activations.softmax(self.classifier(x))


def two_input_model():
    image = keras.Input(shape=(28, 28), name="image")
    rows = keras.Input(shape=(28,), name="row_means")
    image_branch = layers.Dense(64, activation="relu")(layers.Flatten()(image))
    table_branch = layers.Dense(16, activation="relu")(rows)
    joined = layers.concatenate([image_branch, table_branch])
    digit = layers.Dense(10, activation="softmax", name="digit")(joined)
    even = layers.Dense(1, activation="sigmoid", name="even")(joined)
    return keras.Model(inputs=[image, rows], outputs=[digit, even], name="two_branches")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset, 1 epoch")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    epochs = 1 if args.quick else 2
    verbose = 2

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    if args.quick:
        x_train, y_train = x_train[:3000], y_train[:3000]
        x_test, y_test = x_test[:1000], y_test[:1000]
    x_train, x_test = x_train / 255.0, x_test / 255.0

    # 1. Functional: two inputs, two outputs.
    model = two_input_model()
    model.summary()
    model.compile(optimizer="adam",
                  loss={"digit": "sparse_categorical_crossentropy",
                        "even": "binary_crossentropy"},
                  loss_weights={"digit": 1.0, "even": 0.5},
                  metrics={"digit": ["accuracy"], "even": ["accuracy"]})
    inputs = {"image": x_train, "row_means": x_train.mean(axis=2)}
    targets = {"digit": y_train, "even": (y_train % 2 == 0).astype("float32")}
    history = model.fit(inputs, targets, epochs=epochs, batch_size=32, verbose=verbose)
    print("History keys:", sorted(history.history))
    results = model.evaluate([x_test, x_test.mean(axis=2)],
                             [y_test, (y_test % 2 == 0).astype("float32")],
                             return_dict=True, verbose=0)
    print(f"Functional digit accuracy: {results['digit_accuracy']:.4f}, "
          f"even accuracy: {results['even_accuracy']:.4f}")

    # 2. Subclassed model with a custom layer.
    mlp = MLP(name="mlp")
    mlp.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    mlp.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)
    mlp.summary()
    _, mlp_acc = mlp.evaluate(x_test, y_test, verbose=0)
    print(f"Subclassed accuracy: {mlp_acc:.4f}")

    # 3. The TensorFlow quickstart's probability model: a model inside a model.
    logits_model = keras.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10),
    ])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    logits_model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
    logits_model.fit(x_train, y_train, epochs=epochs, verbose=verbose)
    probability_model = keras.Sequential([logits_model, layers.Softmax()])
    probabilities = probability_model.predict(x_test[:5], verbose=0)
    print("Probabilities of 5 test images (rows sum to 1):", np.round(
        probabilities.sum(axis=1), 6))
    _, quickstart_acc = logits_model.evaluate(x_test, y_test, verbose=0)
    print(f"Quickstart accuracy: {quickstart_acc:.4f}")


if __name__ == "__main__":
    main()
